/**
 * The shell code that runs a step's phases (docs/plans.md, "Phases"). POSIX sh only: in a root made of
 * dependency outputs, /bin/sh may be a seed busybox.
 */
import { shellWord } from "../units.ts";

/** Default phases, then the step's own script (which may redefine any `do_*`). Sourced, never run. */
export function phasesDefinitions(scriptPath: string | undefined): string {
  return `# rootstock: the default phases, then the step's script.
# The modes of what a step makes are its own, not those of the umask rootstock was started with.
umask 022
has_makefile() { [ -f Makefile ] || [ -f makefile ] || [ -f GNUmakefile ]; }
default_prepare() { :; }
default_configure() { if [ -x ./configure ]; then ./configure --prefix="$PREFIX" $CONFIGURE_FLAGS; fi; }
default_compile() { if has_makefile; then make -j"$JOBS" $MAKE_FLAGS; fi; }
default_install() { if has_makefile; then make DESTDIR="$OUT" $MAKE_FLAGS install; fi; }
do_prepare() { default_prepare; }
do_configure() { default_configure; }
do_compile() { default_compile; }
do_install() { default_install; }
${scriptPath === undefined ? "" : `. ${shellWord(scriptPath)}\n`}`;
}

/** Runs every phase in order, each from the starting folder, stopping at the first failing command. */
export function phaseRunner(definitionsPath: string): string {
  return `# rootstock: run the phases of a step.
set -e
. ${shellWord(definitionsPath)}
rootstock_start=$PWD
for rootstock_phase in prepare configure compile install; do
  echo "==> rootstock: $rootstock_phase" >&2
  cd "$rootstock_start"
  do_$rootstock_phase
done
`;
}
