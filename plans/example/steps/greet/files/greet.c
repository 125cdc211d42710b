#include <stdio.h>

int main(void) {
  puts(GREETING);
  return 0;
}
