/* A plugin that claims another ABI version. */
#include <flinc/flinc.h>

static int build(flinc_env *e, int argc, char **argv)
{
	(void)e, (void)argc, (void)argv;
	return 0;
}

FLINC_API const flinc_plugin flinc_plugin_entry = {
	.abi_version = 999, .name = "bad_abi", .description = "wrong ABI", .build = build
};
