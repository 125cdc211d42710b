# The source tree is a read-only dependency: everything is built in $BUILD/obj.
kmake() {
	make -C "$DEP_LINUX_SOURCE" O="$BUILD/obj" ARCH=x86_64 "$@"
}

do_configure() {
	kmake tinyconfig
	"$DEP_LINUX_SOURCE/scripts/kconfig/merge_config.sh" -m -O "$BUILD/obj" \
		"$BUILD/obj/.config" "$FILES/tiny-linux.config"
	kmake olddefconfig
	# Kconfig silently drops an option whose dependencies are not met: name them and stop.
	lost=$(grep '^CONFIG_' "$FILES/tiny-linux.config" | grep -vxF -f "$BUILD/obj/.config" || true)
	if [ -n "$lost" ]; then
		echo "tiny-linux.config: Kconfig did not keep: $lost" >&2
		exit 1
	fi
}

do_compile() {
	kmake -j"$JOBS" bzImage
}

do_install() {
	install -D -m 644 "$BUILD/obj/arch/x86/boot/bzImage" "$OUT/boot/bzImage"
	install -m 644 "$BUILD/obj/.config" "$OUT/boot/config"
	kmake -s kernelrelease >"$OUT/boot/kernel.release"
}
