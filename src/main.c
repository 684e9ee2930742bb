/* main: the binary's entry point; everything else lives in libptd. */
#include "ptd.h"

int main(int argc, char *argv[], char *envp[]) { return ptd_main(argc, argv, envp); }
