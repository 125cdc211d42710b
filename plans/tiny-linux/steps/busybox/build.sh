export PATH="$DEP_MUSL_GCC/bin:$PATH"

do_configure() {
	make defconfig
	sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' .config
}

do_compile() {
	make -j"$JOBS" CC=musl-gcc
}

do_install() {
	make CC=musl-gcc CONFIG_PREFIX="$OUT" install
	rm "$OUT/linuxrc"
}
