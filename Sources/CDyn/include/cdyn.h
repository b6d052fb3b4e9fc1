int opsh_dyn_placeholder(void);
