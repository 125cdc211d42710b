/**
 * Downloads one URL into a partial file, resuming what an earlier attempt left. A resume sends
 * `Range` with `If-Range` (the ETag or Last-Modified the server gave) and accepts the answer only when
 * its Content-Range starts where the partial ends and announces the same total; anything else starts
 * over. Redirects are followed to http(s) only. Connecting and a stalled transfer have time limits.
 */

import type http from "node:http";
import type { Socket } from "node:net";
import { RootstockError } from "../errors.ts";
import type { PartialDownload, PartialState } from "./partial-download.ts";

const { open } = process.getBuiltinModule("node:fs/promises");

export interface HttpDownloadOptions {
  partial: PartialDownload;
  /** The pinned size: a body announced as, or growing beyond, another size is refused. */
  expectedSize?: number;
  /** Default 30 s: time to open the connection. */
  connectTimeoutMs?: number;
  /** Default 60 s: time without a byte, waiting for headers or between chunks. */
  stallTimeoutMs?: number;
  /** Default 10. */
  maxRedirects?: number;
  /** Default 5: connection cuts resumed within one call, as long as each round brought bytes. */
  maxResumes?: number;
  /** Proxy settings (HTTP_PROXY, HTTPS_PROXY, NO_PROXY); default process.env. */
  proxyEnv?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onStart?: (info: { url: string; resumeAt: number; total?: number }) => void;
  onProgress?: (received: number, total: number | undefined) => void;
}

export interface HttpDownloadResult {
  path: string;
  bytes: number;
  /** Where the first round picked up bytes left by an earlier one (0: a fresh download). */
  resumedFrom: number;
  /** Set when any round resumed; a resumed file that fails its hash deserves one fresh try. */
  resumed: boolean;
  finalUrl: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const CUT_CODES = new Set(["ERR_FETCH_CUT", "ERR_FETCH_STALLED"]);
/** Bytes held in memory while the disk catches up; the socket is paused above the high mark. */
const BUFFER_HIGH = 16 << 20;
const BUFFER_LOW = 4 << 20;

export async function downloadHttp(url: string, options: HttpDownloadOptions): Promise<HttpDownloadResult> {
  const { partial, expectedSize } = options;
  const maxResumes = options.maxResumes ?? 5;
  let resumes = 0;
  let resumedFrom: number | undefined;
  let resumed = false;
  for (;;) {
    const existing = await partial.read();
    let prior: PartialState | undefined;
    let offset = 0;
    if (existing && existing.state.url === url && existing.bytes > 0) {
      const { total } = existing.state;
      const limit = expectedSize ?? total;
      if (limit === undefined || existing.bytes <= limit) {
        prior = existing.state;
        offset = existing.bytes;
      }
    }
    if (offset === 0 && existing) await partial.discard();
    resumedFrom ??= offset;
    if (prior && offset > 0 && offset === (expectedSize ?? prior.total)) {
      // Every byte arrived before (the process stopped before admitting it): nothing to ask for.
      return { path: partial.dataPath, bytes: offset, resumedFrom, resumed: true, finalUrl: url };
    }
    const round = { written: 0, start: 0 };
    try {
      const result = await transfer(url, offset, prior, options, round);
      if (round.start > 0) resumed = true;
      return { ...result, resumedFrom, resumed };
    } catch (error) {
      if (round.start > 0) resumed = true;
      const cut = error instanceof RootstockError && CUT_CODES.has(error.code);
      if (cut && round.written > 0 && resumes < maxResumes && !options.signal?.aborted) {
        resumes += 1;
        continue;
      }
      throw error;
    }
  }
}

async function transfer(
  url: string,
  offset: number,
  prior: PartialState | undefined,
  options: HttpDownloadOptions,
  round: { written: number; start: number },
): Promise<{ path: string; bytes: number; finalUrl: string }> {
  const { partial, expectedSize } = options;
  const headers: Record<string, string> = { "user-agent": "rootstock", "accept-encoding": "identity" };
  if (offset > 0 && prior) {
    headers.range = `bytes=${offset}-`;
    const validator = prior.etag && !prior.etag.startsWith("W/") ? prior.etag : prior.lastModified;
    if (validator) headers["if-range"] = validator;
  }
  const exchange = await requestFollowing(url, headers, options);
  const { response, finalUrl } = exchange;
  const restart = async () => {
    exchange.close();
    await partial.discard();
    return transfer(url, 0, undefined, options, round);
  };

  let start = 0;
  let total: number | undefined;
  const status = response.statusCode ?? 0;
  if (status === 206 && offset === 0) {
    exchange.close();
    throw new RootstockError("ERR_FETCH_HTTP_STATUS", `${finalUrl}: HTTP 206 to a request without Range`);
  }
  if (status === 206) {
    const range = parseContentRange(response.headers["content-range"]);
    const sameTotal = prior?.total === undefined || range?.total === prior.total;
    if (!range || range.start !== offset || !sameTotal) return restart();
    start = offset;
    total = range.total;
  } else if (status === 200) {
    const length = Number(response.headers["content-length"]);
    total = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
  } else if (status === 416 && offset > 0) {
    const range = /^bytes \*\/(\d+)$/.exec(String(response.headers["content-range"] ?? ""));
    if (range && Number(range[1]) === offset && (prior?.total ?? offset) === offset) {
      exchange.close();
      return { path: partial.dataPath, bytes: offset, finalUrl };
    }
    return restart();
  } else {
    exchange.close();
    throw new RootstockError(
      "ERR_FETCH_HTTP_STATUS",
      `${finalUrl}: HTTP ${status} ${response.statusMessage ?? ""}`.trim(),
    );
  }

  if (expectedSize !== undefined && total !== undefined && total !== expectedSize) {
    exchange.close();
    await partial.discard();
    throw new RootstockError(
      "ERR_FETCH_SIZE",
      `${finalUrl}: the server announces ${total} bytes, the pin says ${expectedSize}`,
    );
  }
  round.start = start;
  if (start === 0) {
    const etag = header(response, "etag");
    const lastModified = header(response, "last-modified");
    await partial.begin({
      url,
      ...(etag === undefined ? {} : { etag }),
      ...(lastModified === undefined ? {} : { lastModified }),
      ...(total === undefined ? {} : { total }),
    });
  }
  options.onStart?.({ url: finalUrl, resumeAt: start, ...(total === undefined ? {} : { total }) });

  const limit = expectedSize ?? total;
  const file = await open(partial.dataPath, start === 0 ? "w" : "a");
  let received = start;
  try {
    for await (const chunk of exchange.body()) {
      if (limit !== undefined && received + chunk.length > limit) {
        exchange.close();
        await file.close();
        await partial.discard();
        throw new RootstockError(
          "ERR_FETCH_TOO_LARGE",
          `${finalUrl}: the body grows beyond ${limit} bytes (${expectedSize === undefined ? "announced" : "pinned"} size)`,
        );
      }
      for (let written = 0; written < chunk.length; ) {
        written += (await file.write(chunk, written)).bytesWritten;
      }
      received += chunk.length;
      round.written += chunk.length;
      options.onProgress?.(received, total);
    }
  } catch (error) {
    if (error instanceof RootstockError) throw error;
    throw exchange.failure(error, received, total);
  } finally {
    await file.close().catch(() => {});
    exchange.close();
  }
  if (total !== undefined && received < total) {
    throw new RootstockError(
      "ERR_FETCH_CUT",
      `${finalUrl}: the connection closed after ${received} of ${total} bytes`,
    );
  }
  return { path: partial.dataPath, bytes: received, finalUrl };
}

function header(response: http.IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

export function parseContentRange(
  value: string | undefined,
): { start: number; end: number; total?: number } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? "");
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) return undefined;
  return match[3] === "*" ? { start, end } : { start, end, total: Number(match[3]) };
}

interface Exchange {
  response: http.IncomingMessage;
  finalUrl: string;
  /**
   * Every chunk the server sent, then the error that ended the transfer early, if one did. Chunks are
   * taken off the socket as they arrive: a connection cut must not drop bytes already received.
   */
  body(): AsyncGenerator<Buffer>;
  close(): void;
  /** Turns an error of the transfer into what the user reads. */
  failure(error: unknown, received: number, total: number | undefined): RootstockError;
}

/** Sends a GET and follows redirects (http and https only); resolves once a final response has headers. */
async function requestFollowing(
  url: string,
  headers: Record<string, string>,
  options: HttpDownloadOptions,
): Promise<Exchange> {
  const maxRedirects = options.maxRedirects ?? 10;
  let current = url;
  for (let redirects = 0; ; redirects++) {
    const exchange = await requestOnce(current, headers, options, await transportFor(current));
    const status = exchange.response.statusCode ?? 0;
    const location = header(exchange.response, "location");
    if (!REDIRECTS.has(status) || location === undefined) return exchange;
    exchange.close();
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new RootstockError(
        "ERR_FETCH_REDIRECT",
        `${current}: redirects to an invalid URL ${JSON.stringify(location)}`,
      );
    }
    if (next.protocol !== "http:" && next.protocol !== "https:") {
      throw new RootstockError(
        "ERR_FETCH_REDIRECT",
        `${current}: redirects to ${next.protocol} (${location}); only http and https redirects are followed`,
      );
    }
    if (redirects + 1 > maxRedirects) {
      throw new RootstockError("ERR_FETCH_REDIRECT", `${url}: more than ${maxRedirects} redirects`);
    }
    current = next.href;
  }
}

/**
 * node:http and node:https, loaded when a download needs them: importing them costs a run that
 * downloads nothing about 30 ms, most of a no-op rerun's budget.
 */
type Transport = Pick<typeof http, "Agent" | "get">;

async function transportFor(url: string): Promise<Transport> {
  return url.startsWith("https:")
    ? (await import("node:https")).default
    : (await import("node:http")).default;
}

function requestOnce(
  url: string,
  headers: Record<string, string>,
  options: HttpDownloadOptions,
  transport: Transport,
): Promise<Exchange> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  const stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
  const secure = url.startsWith("https:");
  const agent = new transport.Agent({ keepAlive: false, proxyEnv: options.proxyEnv ?? process.env });
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let timedOut: "connect" | "stall" | undefined;
    let settled = false;
    const arm = (kind: "connect" | "stall", ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = kind;
        request.destroy(new Error(`${kind} timeout`));
      }, ms);
    };
    const request = transport.get(url, {
      headers,
      agent,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    arm("connect", connectTimeoutMs);
    request.on("socket", (socket: Socket) => {
      const connected = () => arm("stall", stallTimeoutMs);
      if (!socket.connecting) connected();
      else socket.once(secure ? "secureConnect" : "connect", connected);
    });
    const close = () => {
      clearTimeout(timer);
      request.destroy();
      agent.destroy();
    };
    const failure = (error: unknown, received: number, total: number | undefined): RootstockError => {
      clearTimeout(timer);
      if (options.signal?.aborted) {
        return new RootstockError("ERR_FETCH_ABORTED", `${url}: cancelled`);
      }
      if (timedOut === "connect") {
        return new RootstockError("ERR_FETCH_TIMEOUT", `${url}: no connection within ${connectTimeoutMs} ms`);
      }
      if (timedOut === "stall") {
        return new RootstockError(
          "ERR_FETCH_STALLED",
          `${url}: no data for ${stallTimeoutMs} ms (after ${received}${total === undefined ? "" : ` of ${total}`} bytes)`,
        );
      }
      if (settled) {
        return new RootstockError(
          "ERR_FETCH_CUT",
          `${url}: the connection broke after ${received}${total === undefined ? "" : ` of ${total}`} bytes (${describe(error)})`,
        );
      }
      return new RootstockError("ERR_FETCH_NETWORK", `${url}: ${describe(error)}`);
    };
    request.on("response", (response) => {
      settled = true;
      arm("stall", stallTimeoutMs);
      const chunks: Buffer[] = [];
      let buffered = 0;
      let ended = false;
      let broken: unknown;
      let wake: (() => void) | undefined;
      const notify = () => {
        wake?.();
        wake = undefined;
      };
      response.on("data", (chunk: Buffer) => {
        arm("stall", stallTimeoutMs);
        chunks.push(chunk);
        buffered += chunk.length;
        if (buffered > BUFFER_HIGH) response.pause();
        notify();
      });
      response.on("end", () => {
        ended = true;
        notify();
      });
      response.on("error", (error) => {
        broken ??= error;
        notify();
      });
      response.on("close", () => {
        if (!ended) broken ??= new Error("connection closed");
        notify();
      });
      async function* body(): AsyncGenerator<Buffer> {
        for (;;) {
          const chunk = chunks.shift();
          if (chunk) {
            buffered -= chunk.length;
            if (buffered < BUFFER_LOW && response.isPaused()) response.resume();
            yield chunk;
            continue;
          }
          if (broken !== undefined) throw broken;
          if (ended) return;
          await new Promise<void>((wakeUp) => {
            wake = wakeUp;
          });
        }
      }
      resolve({ response, finalUrl: url, body, close, failure });
    });
    request.on("error", (error) => {
      if (settled) return;
      const reason = failure(error, 0, undefined);
      settled = true;
      close();
      reject(reason);
    });
  });
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `host not found (${message})`;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}
