/**
 * `kexec-boot`: boots the netboot system from a Linux machine that is already running, with kexec
 * instead of firmware and iPXE. The copy in an exported bundle takes vmlinuz and initrd.img from beside
 * itself when they are the ones wanted, and fetches them otherwise (it may have been downloaded to
 * anywhere, such as / where Debian keeps links named vmlinuz and initrd.img to the host's own); the
 * served one always fetches them. Both check the files against their sha256 and load them with the
 * exact command line. The RAM root then fetches the
 * squashfs as it does after iPXE.
 */
import { shellWord } from "../units.ts";
import { type NetbootManifest, netbootCmdline } from "./netboot-manifest.ts";

export function renderKexecScript(
  manifest: NetbootManifest,
  base: URL,
  options: { filesBeside: boolean },
): string {
  const { vmlinuz, "initrd.img": initrd } = manifest.files;
  return `#!/bin/sh
# rootstock netboot: kexec into plan ${manifest.plan}, image ${manifest.image} (bundle ${manifest.key.slice(0, 16)}).
# Run as root on a running Linux with kexec-tools. Written by rootstock for ${base.href}.
#   sh kexec-boot              load and boot now (systemctl kexec where systemd runs, else kexec -e)
#   KEXEC_LOAD_ONLY=1 sh kexec-boot    load only; boot later with kexec -e
set -eu
base=${shellWord(base.href)}
cmdline=${shellWord(netbootCmdline(manifest, base))}

fail() {
  echo "kexec-boot: $*" >&2
  exit 1
}
command -v kexec >/dev/null || fail "kexec is not installed (the kexec-tools package)"
${options.filesBeside ? 'here=$(dirname "$0")' : "here="}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A file beside the script is used only when it is the one wanted: saved elsewhere (wget -O kexec-boot
# in /, where Debian keeps links named vmlinuz and initrd.img), the script fetches instead.
fetch() {
  if [ -n "$here" ] && [ -f "$here/$1" ] && [ "$(sha256sum "$here/$1" | cut -d ' ' -f 1)" = "$2" ]; then
    cp "$here/$1" "$work/$1"
  elif command -v wget >/dev/null; then
    wget -q -O "$work/$1" "$base$1" || fail "cannot fetch $base$1"
  elif command -v curl >/dev/null; then
    curl -fsS -o "$work/$1" "$base$1" || fail "cannot fetch $base$1"
  else
    fail "needs wget or curl to fetch $base$1"
  fi
  actual=$(sha256sum "$work/$1" | cut -d ' ' -f 1)
  [ "$actual" = "$2" ] || fail "$1 has sha256 $actual, expected $2"
}
fetch vmlinuz ${vmlinuz.sha256}
fetch initrd.img ${initrd.sha256}

kexec -l "$work/vmlinuz" --initrd="$work/initrd.img" --command-line="$cmdline"
echo "kexec-boot: loaded ${manifest.plan} (${manifest.image}) with: $cmdline"
[ "\${KEXEC_LOAD_ONLY:-0}" = 1 ] && exit 0
sync
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  exec systemctl kexec
fi
exec kexec -e
`;
}
