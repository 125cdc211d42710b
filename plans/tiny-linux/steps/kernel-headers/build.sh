do_install() {
	make -C "$DEP_LINUX_SOURCE" O="$BUILD/obj" ARCH=x86_64 INSTALL_HDR_PATH="$OUT/usr" headers_install
}
