#include <stdio.h>

int main(void) {
	puts("hello from tcc, built by tcc");
	return 0;
}
