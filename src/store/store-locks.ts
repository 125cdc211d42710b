/**
 * Locks shared by every rootstock process on this machine that uses one store: one per key being
 * built (or image, or netboot bundle being made), and one for gc. A run's own liveness is its
 * process (run-record.ts).
 *
 * A lock is a Unix socket bound in Linux's abstract namespace. Binding is exclusive, and the kernel
 * unbinds it the moment its holder exits, however it exits — so a lock held by a dead process is free at
 * once, with no PID files to judge (PIDs are reused, and differ between PID namespaces) and no timeout.
 * A waiter connects to the socket and is woken when the holder lets go or dies. The holder answers each
 * connection with who it is, for messages such as "waiting for run X".
 *
 * A store is named by its folder's device and inode, not its path: every path to it (a link, a bind mount)
 * then shares its locks.
 *
 * Scope: processes in one network namespace (abstract sockets belong to it); a store shared between
 * containers with separate network namespaces is not coordinated.
 */
import type { Server, Socket } from "node:net";
import { sha256Text } from "../digest.ts";

const { statSync } = process.getBuiltinModule("node:fs");
const { connect, createServer } = process.getBuiltinModule("node:net");

/**
 * The lock a `rootstock shell` holds on the kept build folder it works in, so that a later run, which
 * clears the folders of failed builds, leaves that one alone.
 */
export function shellLockName(workDir: string): string {
  const parts = workDir.split("/");
  return `shell:${parts.at(-2)}/${parts.at(-1)}`;
}

export interface LockHolder {
  runId: string;
  pid: number;
  /** What the lock is held for, e.g. a step's name. */
  what: string;
  /** Set when the holder took the connection and said nothing: its process is stopped or busy. */
  silent?: true;
}

export interface HeldLock {
  readonly name: string;
  release(): Promise<void>;
}

export class StoreLocks {
  readonly #identity: string;

  constructor(storeDir: string) {
    let identity = storeDir;
    try {
      // bigint: an inode number may not fit a double (xfs, btrfs).
      const { dev, ino } = statSync(storeDir, { bigint: true });
      identity = `${dev}:${ino}`;
    } catch {
      // Not created yet; the path as given is what other processes will name it by too.
    }
    this.#identity = identity;
  }

  /**
   * The socket's name: the store, hashed, then the lock's name as it is, which keeps `ss -xl` readable.
   * A name too long for an address (108 bytes) is hashed too.
   */
  address(name: string): string {
    const address = `\0rootstock/${fnv1a64(this.#identity)}/${name}`;
    return Buffer.byteLength(address) < 108
      ? address
      : `\0rootstock/${sha256Text(`${this.#identity}\0${name}`)}`;
  }

  /** Takes the lock, or returns undefined at once when another live process holds it. */
  tryAcquire(name: string, holder: LockHolder): Promise<HeldLock | undefined> {
    const server = createServer();
    const sockets = new Set<Socket>();
    const introduction = `${JSON.stringify(holder)}\n`;
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
      // Kept open until release: the close is what wakes a waiter.
      socket.write(introduction);
    });
    return new Promise((resolve, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "EADDRINUSE") resolve(undefined);
        else reject(error);
      });
      server.listen({ path: this.address(name) }, () => {
        // A held lock must not keep the process alive on its own.
        server.unref();
        resolve(heldLock(name, server, sockets));
      });
    });
  }

  /**
   * Who holds the lock, or undefined when it is free. A holder that does not answer (the kernel takes the
   * connection, nobody writes: its process is stopped, or busy) is said to be silent after a while.
   */
  probe(name: string, signal?: AbortSignal): Promise<LockHolder | undefined> {
    return this.#talk(name, signal, false);
  }

  /**
   * Resolves when the lock is free (at once if it is), with the holder that was waited for. The lock is
   * not taken: call `tryAcquire` again, as another waiter may win.
   */
  waitFree(name: string, signal?: AbortSignal): Promise<LockHolder | undefined> {
    return this.#talk(name, signal, true);
  }

  #talk(
    name: string,
    signal: AbortSignal | undefined,
    untilClosed: boolean,
  ): Promise<LockHolder | undefined> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const socket = connect({ path: this.address(name) });
      let text = "";
      let holder: LockHolder | undefined;
      let settled = false;
      const onAbort = () => {
        settled = true;
        socket.destroy();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const finish = (value: LockHolder | undefined) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        socket.destroy();
        resolve(value);
      };
      socket.setEncoding("utf8");
      const silence = untilClosed
        ? undefined
        : setTimeout(() => finish(SILENT_HOLDER), PROBE_ANSWER_MS).unref();
      socket.on("close", () => clearTimeout(silence));
      socket.on("data", (chunk: string) => {
        if (holder !== undefined) return;
        text += chunk;
        const newline = text.indexOf("\n");
        if (newline < 0) return;
        try {
          holder = JSON.parse(text.slice(0, newline)) as LockHolder;
        } catch {
          holder = { runId: "unknown", pid: 0, what: "unknown" };
        }
        if (!untilClosed) finish(holder);
      });
      // Refused: nobody holds it. Reset or closed: the holder released it or died.
      socket.on("error", () => finish(holder));
      socket.on("close", () => finish(holder));
    });
  }
}

/** A holder answers at once unless it is stopped, or busy with no turn of its event loop (hashing a large output). */
const PROBE_ANSWER_MS = 2000;

/** The holder of a lock that took the connection and said nothing; `what` says so, for a waiter's message. */
const SILENT_HOLDER: LockHolder = Object.freeze({
  runId: "unknown",
  pid: 0,
  what: "another rootstock process holds it and has not answered for 2s: it is busy (committing a large output) or stopped (Ctrl-Z, SIGSTOP, which `fg` or `kill -CONT` ends)",
  silent: true,
});

function heldLock(name: string, server: Server, sockets: Set<Socket>): HeldLock {
  let released: Promise<void> | undefined;
  return {
    name,
    release() {
      released ??= new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return released;
    },
  };
}

/** 64-bit FNV-1a: a short, stable name for a store, with no node:crypto to load on a no-op run. */
function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text)) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return hash.toString(16).padStart(16, "0");
}
