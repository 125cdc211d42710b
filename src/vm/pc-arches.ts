/**
 * The arches whose machines rootstock boots: qemu-system-x86_64's PC (an i686 kernel boots there too),
 * which is also what the PXE files it offers start. A plan of another arch is built and its images
 * made, but not booted.
 */
export const PC_ARCHES: readonly string[] = ["x86_64", "i686"];
