do_configure() {
	make defconfig
	sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' .config
}

do_compile() {
	PATH="$DEP_MUSL_GCC/bin:$PATH" make -j"$JOBS" CC=musl-gcc
}

do_install() {
	PATH="$DEP_MUSL_GCC/bin:$PATH" make CC=musl-gcc CONFIG_PREFIX="$OUT" install
	rm "$OUT/linuxrc"
}
