/**
 * A small client for the QEMU Machine Protocol: JSON objects, one per line, over a socket. After the
 * greeting it negotiates capabilities; then each command gets an id and its answer, and events (RESET,
 * SHUTDOWN, …) go to listeners.
 */
import type { Socket } from "node:net";
import { RootstockError } from "../errors.ts";

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void; command: string };

export class QmpClient {
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(event: QmpEvent) => void>();
  #nextId = 1;
  #buffer = "";
  #closed: Error | undefined;
  /** Resolves once the greeting has come and capabilities are negotiated. */
  readonly ready: Promise<void>;

  constructor(socket: Socket) {
    this.#socket = socket;
    let greeted: () => void = () => {};
    let failed: (error: Error) => void = () => {};
    const greeting = new Promise<void>((resolve, reject) => {
      greeted = resolve;
      failed = reject;
    });
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      this.#buffer += text;
      let newline = this.#buffer.indexOf("\n");
      while (newline >= 0) {
        const line = this.#buffer.slice(0, newline).trim();
        this.#buffer = this.#buffer.slice(newline + 1);
        if (line !== "") this.#receive(line, greeted);
        newline = this.#buffer.indexOf("\n");
      }
    });
    const close = () => {
      this.#closed ??= new RootstockError("ERR_VM_QMP", "QEMU closed its control (QMP) connection");
      failed(this.#closed);
      for (const pending of this.#pending.values()) pending.reject(this.#closed);
      this.#pending.clear();
    };
    socket.on("close", close);
    socket.on("error", close);
    this.ready = greeting.then(async () => {
      await this.execute("qmp_capabilities");
    });
    // Callers await `ready`; an early close must not become an unhandled rejection meanwhile.
    this.ready.catch(() => {});
  }

  #receive(line: string, greeted: () => void): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if ("QMP" in message) {
      greeted();
      return;
    }
    if (typeof message.event === "string") {
      for (const listener of this.#listeners) listener(message as unknown as QmpEvent);
      return;
    }
    const id = message.id as number | undefined;
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (!pending || id === undefined) return;
    this.#pending.delete(id);
    if ("error" in message) {
      const error = message.error as { class?: string; desc?: string };
      pending.reject(
        new RootstockError(
          "ERR_VM_QMP",
          `QEMU refused ${pending.command}: ${error.desc ?? error.class ?? "error"}`,
        ),
      );
    } else pending.resolve(message.return);
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, command });
      this.#socket.write(
        `${JSON.stringify({ execute: command, id, ...(args ? { arguments: args } : {}) })}\n`,
      );
    });
  }

  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#socket.destroy();
  }
}
