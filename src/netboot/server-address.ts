/**
 * How the netboot server is addressed: the address it listens on (`--listen`), and the URL clients
 * reach it by (`--public-url`), which goes into scripts and kernel command lines.
 */
import { RootstockError } from "../errors.ts";

const { isIP } = process.getBuiltinModule("node:net");

export interface ListenAddress {
  host: string;
  port: number;
}

/** Default: loopback only. A guest on QEMU's user network reaches it as 10.0.2.2. */
export const DEFAULT_LISTEN: ListenAddress = { host: "127.0.0.1", port: 8080 };

/** `ADDRESS:PORT`, `[IPv6]:PORT`, `ADDRESS` (port 8080) or `:PORT` / `PORT` (on 127.0.0.1). */
export function parseListen(text: string): ListenAddress {
  const bad = (why: string) =>
    new RootstockError("ERR_NETBOOT_LISTEN", `--listen ${JSON.stringify(text)}: ${why}`, {
      hint: "write ADDRESS:PORT, such as 127.0.0.1:8080, 0.0.0.0:8080 (every interface) or [::1]:8080",
    });
  const trimmed = text.trim();
  if (trimmed === "") throw bad("it is empty");
  let host = "";
  let portText: string | undefined = trimmed;
  if (!/^\d+$/.test(trimmed)) {
    const match = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::(.*))?$/.exec(trimmed);
    if (!match) throw bad("expected ADDRESS:PORT");
    const [, v6, v4, port] = match;
    host = v6 ?? v4 ?? "";
    portText = port;
    if (v6 !== undefined && isIP(host) !== 6) throw bad(`${host} is not an IPv6 address`);
    if (v6 === undefined && host !== "" && isIP(host) !== 4) {
      throw bad(`${host} is not an IPv4 address (a name such as localhost is not taken)`);
    }
  }
  let port = DEFAULT_LISTEN.port;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
      throw bad(`expected a port from 0 to 65535, got ${JSON.stringify(portText)}`);
    }
    port = Number(portText);
  }
  return { host: host === "" ? DEFAULT_LISTEN.host : host, port };
}

/** A public URL as a base for entry names: `http://host:port/prefix/`. */
export function publicBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RootstockError("ERR_NETBOOT_PUBLIC_URL", `--public-url ${JSON.stringify(text)} is not a URL`, {
      hint: "write it as the clients reach this server, such as http://192.168.1.10:8080/",
    });
  }
  // The URL goes into an iPXE script, a shell script and a kernel command line: plain characters only.
  const plainText = /^[A-Za-z0-9._~:/%[\]-]+$/.test(text);
  if (url.protocol !== "http:" || url.search !== "" || url.hash !== "" || url.username !== "" || !plainText) {
    throw new RootstockError(
      "ERR_NETBOOT_PUBLIC_URL",
      `--public-url ${JSON.stringify(text)} must be a plain http:// URL (no query, fragment, user, or characters such as $ or ')`,
      {
        hint: "iPXE and the RAM root's busybox wget fetch the files over plain HTTP; write http://HOST:PORT/",
      },
    );
  }
  if (!url.pathname.endsWith("/")) url.pathname = `${url.pathname}/`;
  return url;
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An address only this machine reaches: IPv4's 127.0.0.0/8 or IPv6's ::1. */
export function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1";
}
