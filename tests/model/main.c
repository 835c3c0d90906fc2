/* main.c — the model's Check runner (VARIANT=model): structures, runtime,
 * mutations; a process per test. CK_RUN_SUITE / CK_RUN_CASE select a part. */
#include <check.h>
#include <stdlib.h>

Suite *suite_model_structures(void);
Suite *suite_model_runtime(void);
Suite *suite_model_mutations(void);

int main(void)
{
    SRunner *sr = srunner_create(suite_model_structures());
    srunner_add_suite(sr, suite_model_runtime());
    srunner_add_suite(sr, suite_model_mutations());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
