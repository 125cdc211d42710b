/**
 * HTTP requests written byte for byte on a socket: request targets reach the server exactly as typed
 * (an HTTP client library would normalise `..`, encode or refuse them).
 */
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export async function rawRequest(
  port: number,
  target: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const headers = { host: `127.0.0.1:${port}`, connection: "close", ...options.headers };
  const text = `${options.method ?? "GET"} ${target} HTTP/1.1\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("")}\r\n`;
  const received = await new Promise<Buffer>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => resolve(Buffer.concat(chunks)));
    socket.on("error", reject);
    socket.write(text, "latin1");
  });
  const split = received.indexOf("\r\n\r\n");
  if (split === -1)
    throw new Error(`no complete response head: ${JSON.stringify(received.toString("latin1"))}`);
  const [statusLine, ...lines] = received.subarray(0, split).toString("latin1").split("\r\n");
  const status = Number((statusLine as string).split(" ")[1]);
  const parsed: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers: parsed, body: received.subarray(split + 4) };
}
