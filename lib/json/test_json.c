/* Unit tests for lib/json. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "strait/json.h"

static void
test_smoke(void **state)
{
    struct st_err err;
    json_t *v = st_json_load("{\"a\":1}", 7, 0, &err);
    assert_non_null(v);
    json_decref(v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
