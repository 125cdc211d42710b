/**
 * A real HTTP server on 127.0.0.1 (random port) for fetch tests. Each path is served by a route that
 * can honour or ignore Range, cut the connection after some bytes, lie about Content-Length, stall, or
 * redirect. Every request is recorded with the bytes of body the server actually sent.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Route {
  body?: Buffer;
  etag?: string;
  lastModified?: string;
  /** Answer Range requests with 206 (default true). */
  ranges?: boolean;
  /** Close the connection after sending this many body bytes (for the first `times` requests). */
  cutAfter?: number;
  /** Send headers and this many bytes, then nothing more, keeping the connection open (idem). */
  stallAfter?: number;
  /** How many requests misbehave as cutAfter or stallAfter say (default 1). */
  times?: number;
  /** After `times` requests, the path is served by this route instead. */
  afterwards?: Route;
  /** Announce this Content-Length instead of the true one, send the body as it is, and close. */
  contentLength?: number;
  /** Send without Content-Length (chunked). */
  chunked?: boolean;
  status?: number;
  location?: string;
}

export interface RecordedRequest {
  path: string;
  range?: string;
  ifRange?: string;
  status: number;
  /** Body bytes the server wrote to the socket for this request. */
  sent: number;
}

export interface TestServer {
  url: string;
  port: number;
  routes: Map<string, Route>;
  requests: RecordedRequest[];
  /** Forgets routes, recorded requests and request counts. */
  reset(): void;
  close(): Promise<void>;
}

export function sha256Of(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Deterministic pseudo-random bytes: content that no two offsets share, so splices show in the hash. */
export function testBytes(size: number, seed = 1): Buffer {
  const data = Buffer.alloc(size);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < size; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[index] = state & 0xff;
  }
  return data;
}

export async function startServer(): Promise<TestServer> {
  const routes = new Map<string, Route>();
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const served = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://x").pathname;
    const route = routes.get(decodeURIComponent(path));
    const record: RecordedRequest = {
      path,
      status: 0,
      sent: 0,
      ...(request.headers.range === undefined ? {} : { range: request.headers.range }),
      ...(request.headers["if-range"] === undefined ? {} : { ifRange: String(request.headers["if-range"]) }),
    };
    requests.push(record);
    const count = (served.get(path) ?? 0) + 1;
    served.set(path, count);
    const current = route?.afterwards && count > (route.times ?? 1) ? route.afterwards : route;
    handle(current, request, response, record, count);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    routes,
    requests,
    reset: () => {
      routes.clear();
      requests.length = 0;
      served.clear();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function handle(
  route: Route | undefined,
  request: IncomingMessage,
  response: ServerResponse,
  record: RecordedRequest,
  count: number,
): void {
  const reply = (status: number, headers: Record<string, string | number>, body?: Buffer) => {
    record.status = status;
    response.writeHead(status, headers);
    if (body) record.sent += body.length;
    response.end(body);
  };
  if (!route) {
    reply(404, { "content-type": "text/plain" }, Buffer.from("not found\n"));
    return;
  }
  if (route.location !== undefined) {
    reply(route.status ?? 302, { location: route.location });
    return;
  }
  if (route.status !== undefined && route.status !== 200) {
    reply(route.status, {});
    return;
  }
  const full = route.body ?? Buffer.alloc(0);
  const validators: Record<string, string> = {
    ...(route.etag === undefined ? {} : { etag: route.etag }),
    ...(route.lastModified === undefined ? {} : { "last-modified": route.lastModified }),
  };
  let status = 200;
  let body = full;
  const headers: Record<string, string | number> = { ...validators, "accept-ranges": "bytes" };
  const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? "");
  const ifRange = request.headers["if-range"];
  const validatorMatches = ifRange === undefined || ifRange === route.etag || ifRange === route.lastModified;
  if (range && route.ranges !== false && validatorMatches) {
    const start = Number(range[1]);
    if (start >= full.length) {
      reply(416, { "content-range": `bytes */${full.length}` });
      return;
    }
    status = 206;
    body = full.subarray(start);
    headers["content-range"] = `bytes ${start}-${full.length - 1}/${full.length}`;
  }
  record.status = status;
  if (route.contentLength !== undefined) {
    // Node's ServerResponse refuses a body that disagrees with its Content-Length: write raw HTTP.
    const socket = response.socket as Socket;
    const lines = Object.entries({ ...headers, "content-length": route.contentLength, connection: "close" });
    socket.write(
      `HTTP/1.1 ${status} OK\r\n${lines.map(([key, value]) => `${key}: ${value}\r\n`).join("")}\r\n`,
    );
    record.sent += body.length;
    socket.end(body);
    return;
  }
  if (!route.chunked) headers["content-length"] = body.length;
  response.writeHead(status, headers);
  const misbehaves = count <= (route.times ?? 1);
  if (route.cutAfter !== undefined && misbehaves) {
    const part = body.subarray(0, route.cutAfter);
    record.sent += part.length;
    // A graceful close (FIN) after the bytes: the client receives exactly what was sent, then loses
    // the connection before Content-Length is reached.
    response.write(part, () => response.socket?.end());
    return;
  }
  if (route.stallAfter !== undefined && misbehaves) {
    const part = body.subarray(0, route.stallAfter);
    record.sent += part.length;
    response.write(part);
    return;
  }
  record.sent += body.length;
  response.end(body);
}
