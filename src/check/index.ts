/**
 * What plan tests import, as `import type { Machine, TestModule } from "rootstock/check"` (package.json
 * `exports`), so that they type-check against the Machine API.
 */
export type { CommandResult, Machine, MachineOptions, TimeoutOption } from "./machine.ts";
export type { TestContext, TestEvidence, TestFunction, TestModule } from "./test-module.ts";
