int opsh_dyn_placeholder(void) { return 0; }
