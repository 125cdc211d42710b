import type { Command } from "commander";
import { openPlan, parseVariableFlags } from "../../plan/open.ts";
import { renderDot, renderGraphText, renderSteps } from "../../plan/render.ts";
import type { CliContext } from "../context.ts";
import { setOption } from "../options.ts";

export function registerPlan(program: Command, context: CliContext): void {
  const plan = program.command("plan").description("inspect a plan without building it");

  plan
    .command("show")
    .description("print the resolved steps in order, with their keys")
    .argument("<plan>", "plan folder")
    .addOption(setOption())
    .option("--json", "print JSON")
    .action(async (dir: string, options: { set: string[]; json?: boolean }) => {
      const { graph } = await openPlan(dir, { variables: parseVariableFlags(options.set) });
      if (options.json) {
        context.out(
          JSON.stringify(
            [
              ...graph.steps.map((step) => ({
                name: step.name,
                stage: step.step.stage,
                key: step.key,
                deps: step.step.deps,
                ...(step.step.version === undefined ? {} : { version: step.step.version }),
                sandbox: step.step.sandbox,
                root: step.step.root,
              })),
              // As the terminal lists them: a step its `when` turned off has no key, and says why.
              ...graph.disabled.map((step) => ({
                name: step.name,
                stage: graph.plan.steps.get(step.name)?.stage,
                disabled: { when: step.when },
              })),
            ],
            null,
            2,
          ),
        );
        return;
      }
      for (const line of renderSteps(graph, { style: (format, text) => context.style(format, text) }))
        context.out(line);
    });

  plan
    .command("graph")
    .description("print the dependency graph (text, or DOT with --dot)")
    .argument("<plan>", "plan folder")
    .addOption(setOption())
    .option("--dot", "print Graphviz DOT")
    .action(async (dir: string, options: { set: string[]; dot?: boolean }) => {
      const { graph } = await openPlan(dir, { variables: parseVariableFlags(options.set) });
      const lines = options.dot ? renderDot(graph) : renderGraphText(graph);
      for (const line of lines) context.out(line);
    });
}
