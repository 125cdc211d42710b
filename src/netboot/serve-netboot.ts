/**
 * A bundle served: the HTTP server, how to boot from it, and — when machines of a LAN can reach it —
 * the dnsmasq proxy-DHCP/TFTP configuration for that LAN, written (not run) into `lanDir`.
 */
import type { Emit } from "../events.ts";
import { type BootInstruction, bootInstructions } from "./boot-instructions.ts";
import type { NetbootBundle } from "./build-bundle.ts";
import { bundleEntries } from "./bundle-entries.ts";
import { type BundleServer, startBundleServer } from "./bundle-server.ts";
import { bootsOnPc, notPcReason } from "./netboot-manifest.ts";
import { formatHostPort, isLoopback, publicBaseUrl } from "./server-address.ts";
import { type LanConfig, writeLanConfig } from "./write-lan-config.ts";

const { networkInterfaces } = process.getBuiltinModule("node:os");
const { join } = process.getBuiltinModule("node:path");

export interface ServeNetbootOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** The URL clients reach the server by (--public-url). */
  publicUrl?: string;
  /** Where the LAN's dnsmasq config goes (default: none is written). */
  lanDir?: string;
  emit?: Emit;
  /** Aborting closes the server. */
  signal?: AbortSignal;
}

export interface ServingNetboot {
  server: BundleServer;
  instructions: BootInstruction[];
  /** The dnsmasq config for a LAN, or why there is none. */
  lan: (LanConfig & { base: URL }) | { skipped: string };
}

export async function serveNetboot(
  bundle: NetbootBundle,
  options: ServeNetbootOptions,
): Promise<ServingNetboot> {
  const publicBase = options.publicUrl === undefined ? undefined : publicBaseUrl(options.publicUrl);
  const server = await startBundleServer(bundleEntries(bundle), {
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }),
    ...(options.emit === undefined ? {} : { emit: options.emit }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  try {
    const hostAddresses = lanAddresses();
    const instructions = bootInstructions({
      address: server.address,
      port: server.port,
      hostAddresses,
      embedded: bundle.manifest.squashfs.embedded !== undefined,
      notPc: !bootsOnPc(bundle.manifest),
      ...(publicBase === undefined ? {} : { publicBase }),
    });
    const base = publicBase ?? lanBase(server, hostAddresses);
    let lan: ServingNetboot["lan"];
    if (!bootsOnPc(bundle.manifest)) lan = { skipped: notPcReason(bundle.manifest.arch) };
    else if (typeof base === "string") lan = { skipped: base };
    else if (options.lanDir === undefined) lan = { skipped: "no folder was given for it" };
    else {
      const written = await writeLanConfig(options.lanDir, {
        base,
        title: `rootstock netboot: plan ${bundle.manifest.plan}, image ${bundle.manifest.image}, served at ${base.href}`,
      });
      lan = { ...written, base };
    }
    options.emit?.({
      type: "netboot:serving",
      url: server.url,
      instructions,
      ...("skipped" in lan
        ? { dnsmasqSkipped: lan.skipped }
        : lan.dnsmasq === undefined
          ? { dnsmasqSkipped: lan.dnsmasqSkipped }
          : { dnsmasq: lan.dnsmasq }),
    });
    return { server, instructions, lan };
  } catch (error) {
    await server.close();
    throw error;
  }
}

/** This machine's IPv4 addresses other than loopback: where a LAN may reach a server on 0.0.0.0. */
function lanAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .flatMap((address) =>
      address && address.family === "IPv4" && !address.internal ? [address.address] : [],
    );
}

/** The URL a LAN reaches the server by, or why there is none. */
function lanBase(server: BundleServer, hostAddresses: string[]): URL | string {
  const { address, port } = server;
  if (isLoopback(address)) {
    return `the server listens on loopback only (--listen 0.0.0.0:${port} serves a LAN)`;
  }
  if (address === "0.0.0.0" || address === "::") {
    const first = hostAddresses[0];
    return first === undefined
      ? "this machine has no IPv4 address besides loopback"
      : new URL(`http://${formatHostPort(first, port)}/`);
  }
  return new URL(`http://${formatHostPort(address, port)}/`);
}

/** The folder of a run where `rootstock netboot` writes the LAN config while it serves. */
export function lanConfigDir(runDir: string): string {
  return join(runDir, "lan");
}
