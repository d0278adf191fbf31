/* A shared object without the flinc_plugin_entry symbol. */
__attribute__((visibility("default"))) int not_a_job(void) { return 42; }
