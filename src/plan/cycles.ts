/** Finds dependency cycles, each reported whole (a → b → c), not just "there is a cycle". */
export interface Node {
  name: string;
  deps: readonly string[];
}

/** One cycle per strongly connected component that has one, as the list of its steps in order. */
export function findCycles(nodes: readonly Node[]): string[][] {
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;

  // Iterative Tarjan: plans can be long chains, deeper than a comfortable call stack.
  for (const root of nodes) {
    if (index.has(root.name)) continue;
    const work: { name: string; next: number }[] = [{ name: root.name, next: 0 }];
    index.set(root.name, counter);
    low.set(root.name, counter++);
    stack.push(root.name);
    onStack.add(root.name);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { name: string; next: number };
      const deps = byName.get(frame.name)?.deps ?? [];
      if (frame.next < deps.length) {
        const dep = deps[frame.next++] as string;
        if (!byName.has(dep)) continue;
        if (!index.has(dep)) {
          index.set(dep, counter);
          low.set(dep, counter++);
          stack.push(dep);
          onStack.add(dep);
          work.push({ name: dep, next: 0 });
        } else if (onStack.has(dep)) {
          low.set(frame.name, Math.min(low.get(frame.name) as number, index.get(dep) as number));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent)
        low.set(parent.name, Math.min(low.get(parent.name) as number, low.get(frame.name) as number));
      if (low.get(frame.name) === index.get(frame.name)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop() as string;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.name);
        const selfLoop = component.length === 1 && (byName.get(frame.name)?.deps ?? []).includes(frame.name);
        if (component.length > 1 || selfLoop) components.push(component);
      }
    }
  }
  return components.map((component) => cycleWithin(component, byName));
}

/** Walks dependencies inside one component from its first-listed member until it comes back. */
function cycleWithin(component: string[], byName: Map<string, Node>): string[] {
  const members = new Set(component);
  const start = [...byName.keys()].find((name) => members.has(name)) as string;
  const path = [start];
  const seen = new Map([[start, 0]]);
  let current = start;
  for (;;) {
    const next = (byName.get(current)?.deps ?? []).find((dep) => members.has(dep)) as string;
    const at = seen.get(next);
    if (at !== undefined) return path.slice(at);
    seen.set(next, path.length);
    path.push(next);
    current = next;
  }
}
