/** The variable that tells a step where a dependency's output is: DEP_KERNEL_HEADERS for kernel-headers. */
export function depVariable(name: string): string {
  return `DEP_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}
