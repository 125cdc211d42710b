/**
 * An HTTP server for exactly the files of a bundle. A request target is looked up, as sent, in an
 * explicit name → entry map: it is never decoded, normalised or joined to a folder, so `..`, `%2e%2e`,
 * `//x` or `/etc/passwd` simply name nothing. A file is opened without following a symbolic link and
 * must still be the regular file of the size the bundle recorded. GET and HEAD, single Range requests,
 * and one event per request.
 */
import type { FileHandle } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Server as NetServer, Socket } from "node:net";
import { sha256Text } from "../digest.ts";
import { describeCause, RootstockError } from "../errors.ts";
import { type Emit, ignoreEvents } from "../events.ts";
import { monotonicMs } from "../units.ts";
import { answerRange } from "./byte-range.ts";
import { formatHostPort, publicBaseUrl } from "./server-address.ts";

const { constants } = process.getBuiltinModule("node:fs");
const { open } = process.getBuiltinModule("node:fs/promises");
const { createServer } = process.getBuiltinModule("node:http");
const { pipeline } = process.getBuiltinModule("node:stream/promises");

export type ServedEntry =
  | {
      kind: "file";
      /** Absolute path of the file. */
      path: string;
      size: number;
      sha256: string;
      contentType?: string;
    }
  | {
      kind: "rendered";
      contentType: string;
      /** The body, for a client that reaches the server at `base` (ends with `/`). */
      render: (base: URL) => string;
    };

export interface BundleServerOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: a free one). */
  port?: number;
  /**
   * The URL clients reach the server by, used in rendered entries. Default: the request's Host
   * header (a guest behind NAT names the server its own way), else the listening address.
   */
  publicUrl?: string;
  emit?: Emit;
  /** Aborting closes the server. */
  signal?: AbortSignal;
}

export interface BundleServer {
  /** The listening address as a URL (`http://127.0.0.1:8080/`). */
  url: string;
  address: string;
  port: number;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

/** Entry names: one path component of plain characters; `""` is the root (`/`). */
const ENTRY_NAME = /^[A-Za-z0-9._-]*$/;
/** A Host header this server will put into a URL: a DNS name, IPv4 or bracketed IPv6, and a port. */
const HOST_HEADER =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export async function startBundleServer(
  entries: ReadonlyMap<string, ServedEntry>,
  options: BundleServerOptions = {},
): Promise<BundleServer> {
  for (const name of entries.keys()) {
    if (!ENTRY_NAME.test(name) || name === "." || name === "..") {
      throw new RootstockError(
        "ERR_NETBOOT_ENTRY_NAME",
        `cannot serve an entry named ${JSON.stringify(name)}`,
        {
          hint: "this is a bug in the caller: entry names are single plain path components",
        },
      );
    }
  }
  const routes = new Map([...entries].map(([name, entry]) => [`/${name}`, entry]));
  const emit = options.emit ?? ignoreEvents;
  const host = options.host ?? "127.0.0.1";
  const publicBase = options.publicUrl === undefined ? undefined : publicBaseUrl(options.publicUrl);
  let listeningBase: URL;
  const sockets = new Set<Socket>();
  /** Responses not yet logged, and who waits for them all to be. */
  const open = new Set<ServerResponse>();
  const drained: (() => void)[] = [];

  const server = createServer((request, response) => {
    const started = monotonicMs();
    const target = request.url ?? "";
    // Read now: a client that goes away takes its socket's address with it.
    const remote = request.socket.remoteAddress ?? "";
    let bytes = 0;
    open.add(response);
    response.on("close", () => {
      open.delete(response);
      if (open.size === 0) for (const settle of drained.splice(0)) settle();
      // A refusal's text is its body: counted, and told to the operator as the client was told it.
      const refusal = refusals.get(response);
      emit({
        type: "netboot:request",
        method: request.method ?? "",
        path: target.length > 200 ? `${target.slice(0, 200)}…` : target,
        status: response.statusCode,
        bytes: refusal !== undefined && request.method !== "HEAD" ? Buffer.byteLength(refusal) : bytes,
        ...(request.headers.range === undefined ? {} : { range: request.headers.range.slice(0, 200) }),
        complete: response.writableFinished,
        remote,
        ms: Math.round(monotonicMs() - started),
        ...(refusal !== undefined && response.statusCode >= 400 ? { note: refusal.trim() } : {}),
      });
    });
    const counted = (count: number) => {
      bytes += count;
    };
    respond(request, response, {
      routes,
      base: () => requestBase(request, publicBase, listeningBase),
      counted,
    }).catch((error: unknown) => {
      // The client went away mid-body, or the disk failed: nothing more can be said to this client.
      if (!response.headersSent) plain(response, 500, `cannot serve this file: ${describeCause(error)}\n`);
      else response.destroy();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  await listenOn(server, host, options.port ?? 0);
  const address = server.address() as AddressInfo;
  listeningBase = new URL(`http://${formatHostPort(address.address, address.port)}/`);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      // Downloads cut short by the stop are logged before the caller goes on (their responses close
      // once their file streams have wound down, after the sockets).
      server.close(() => {
        if (open.size === 0) resolve();
        else drained.push(resolve);
      });
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  };
  if (options.signal) {
    if (options.signal.aborted) await close();
    else options.signal.addEventListener("abort", () => void close(), { once: true });
  }
  emit({ type: "netboot:listening", url: listeningBase.href, address: address.address, port: address.port });
  return { url: listeningBase.href, address: address.address, port: address.port, close };
}

/** Listens, or says why not in the user's terms (a port in use, an address this machine lacks). */
function listenOn(server: NetServer, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      reject(
        new RootstockError(
          "ERR_NETBOOT_LISTEN_FAILED",
          `cannot listen on ${formatHostPort(host, port)}: ${error.code === "EADDRINUSE" ? "the port is in use" : error.code === "EADDRNOTAVAIL" ? "this machine has no such address" : error.code === "EACCES" ? "permission denied" : error.message}`,
          {
            cause: error,
            hint: "choose another address or port with --listen ADDRESS:PORT (port 0 picks a free one)",
          },
        ),
      );
    };
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
}

/**
 * Whether the server will be able to listen there, asked before a long build: a port in use or an
 * address of another machine is told at once. (Another process may still take the port meanwhile.)
 */
/**
 * Takes the address now, before a long build, and holds it until `release` (just before the server
 * binds it): another server started meanwhile is refused at once, not this one after its build.
 */
export async function reserveListen(host: string, port: number): Promise<{ release: () => Promise<void> }> {
  const { createServer: createNetServer } = process.getBuiltinModule("node:net");
  // Held, not served: a client that comes meanwhile (a machine booted early) is hung up on at once, to
  // retry, rather than held open, which would keep the address from being given back.
  const probe = createNetServer((socket) => socket.destroy());
  await listenOn(probe, host, port);
  // Keeps no process alive on its own.
  probe.unref();
  let released: Promise<void> | undefined;
  return {
    release: () => {
      released ??= new Promise<void>((resolve) => probe.close(() => resolve()));
      return released;
    },
  };
}

interface RespondContext {
  routes: Map<string, ServedEntry>;
  base: () => URL;
  counted: (bytes: number) => void;
}

async function respond(
  request: IncomingMessage,
  response: ServerResponse,
  context: RespondContext,
): Promise<void> {
  const method = request.method ?? "";
  if (method !== "GET" && method !== "HEAD") {
    response.setHeader("allow", "GET, HEAD");
    plain(response, 405, "only GET and HEAD\n");
    return;
  }
  const target = request.url ?? "";
  const query = target.indexOf("?");
  const entry = context.routes.get(query === -1 ? target : target.slice(0, query));
  if (!entry) {
    plain(response, 404, "not found\n");
    return;
  }
  const head = method === "HEAD";
  if (entry.kind === "rendered") {
    const body = Buffer.from(entry.render(context.base()));
    sendBody(request, response, {
      size: body.length,
      etag: `"${sha256Text(body)}"`,
      contentType: entry.contentType,
      head,
      send: (start, end) => {
        const part = body.subarray(start, end + 1);
        context.counted(part.length);
        response.end(part);
        return Promise.resolve();
      },
    });
    return;
  }

  let handle: FileHandle;
  try {
    // O_NOFOLLOW: a bundle file replaced by a symbolic link is refused, not followed out of the bundle.
    handle = await open(entry.path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    plain(response, 404, "not found\n");
    return;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      plain(response, 404, "not found\n");
      return;
    }
    if (info.size !== entry.size) {
      plain(response, 500, "this file changed since the bundle was made\n");
      return;
    }
    await sendBody(request, response, {
      size: entry.size,
      etag: `"${entry.sha256}"`,
      contentType: entry.contentType ?? "application/octet-stream",
      head,
      send: async (start, end) => {
        const stream = handle.createReadStream({ start, end, autoClose: false });
        stream.on("data", (chunk) => context.counted((chunk as Buffer).length));
        await pipeline(stream, response);
      },
    });
  } finally {
    await handle.close();
  }
}

interface Body {
  size: number;
  etag: string;
  contentType: string;
  head: boolean;
  /** Writes bytes start..end (inclusive) and ends the response. */
  send: (start: number, end: number) => Promise<void>;
}

function sendBody(request: IncomingMessage, response: ServerResponse, body: Body): Promise<void> {
  response.setHeader("accept-ranges", "bytes");
  response.setHeader("etag", body.etag);
  response.setHeader("cache-control", "no-cache");
  // If-Range: the range is only for the representation the client already holds part of.
  const ifRange = request.headers["if-range"];
  const rangeHeader = ifRange === undefined || ifRange === body.etag ? request.headers.range : undefined;
  const answer = answerRange(rangeHeader, body.size);
  if (answer.kind === "unsatisfiable") {
    response.setHeader("content-range", `bytes */${body.size}`);
    plain(response, 416, "range not satisfiable\n");
    return Promise.resolve();
  }
  const [start, end] = answer.kind === "partial" ? [answer.start, answer.end] : [0, body.size - 1];
  response.statusCode = answer.kind === "partial" ? 206 : 200;
  if (answer.kind === "partial") response.setHeader("content-range", `bytes ${start}-${end}/${body.size}`);
  response.setHeader("content-type", body.contentType);
  response.setHeader("content-length", end - start + 1);
  if (body.head || body.size === 0) {
    response.end();
    return Promise.resolve();
  }
  return body.send(start, end);
}

/** The text of each refusal sent, for the request's log line. */
const refusals = new WeakMap<ServerResponse, string>();

function plain(response: ServerResponse, status: number, text: string): void {
  refusals.set(response, text);
  response.statusCode = status;
  response.setHeader("content-type", "text/plain; charset=utf-8");
  response.setHeader("content-length", Buffer.byteLength(text));
  response.end(text);
}

function requestBase(request: IncomingMessage, publicBase: URL | undefined, listening: URL): URL {
  if (publicBase) return publicBase;
  const host = request.headers.host;
  if (host !== undefined && HOST_HEADER.test(host)) return new URL(`http://${host}/`);
  // No Host header (HTTP/1.0): on every interface, the address this client came in on.
  const { localAddress, localPort } = request.socket;
  if ((listening.hostname === "0.0.0.0" || listening.hostname === "[::]") && localAddress && localPort)
    return new URL(`http://${formatHostPort(localAddress.replace(/^::ffff:/, ""), localPort)}/`);
  return listening;
}
