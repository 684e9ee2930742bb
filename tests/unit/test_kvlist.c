/* Unit tests for lib/kvlist: order, uniqueness, replace, copy, NULL-safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/kvlist.h"

static void test_new_is_empty(void **state) {
  kvlist_t *l = kvlist_new();
  assert_non_null(l);
  assert_int_equal(l->n, 0);
  assert_null(kvlist_get(l, "a"));
  kvlist_free(l);
}

static void test_add_keeps_order(void **state) {
  kvlist_t *l = kvlist_new();
  const char *keys[] = {"z", "a", "m", "b", "y", "c", "x"};
  for (size_t i = 0; i < 7; i++)
    assert_int_equal(kvlist_add(l, keys[i], keys[i]), 0);
  assert_int_equal(l->n, 7);
  for (size_t i = 0; i < 7; i++) {
    assert_string_equal(l->items[i].key, keys[i]);
    assert_string_equal(l->items[i].value, keys[i]);
  }
  kvlist_free(l);
}

static void test_add_refuses_duplicate(void **state) {
  kvlist_t *l = kvlist_new();
  assert_int_equal(kvlist_add(l, "cert", "one"), 0);
  assert_int_equal(kvlist_add(l, "cert", "two"), -1);
  assert_int_equal(l->n, 1);
  assert_string_equal(kvlist_get(l, "cert"), "one");
  kvlist_free(l);
}

static void test_keys_are_case_sensitive(void **state) {
  kvlist_t *l = kvlist_new();
  assert_int_equal(kvlist_add(l, "Key", "1"), 0);
  assert_int_equal(kvlist_add(l, "key", "2"), 0);
  assert_string_equal(kvlist_get(l, "Key"), "1");
  assert_string_equal(kvlist_get(l, "key"), "2");
  assert_null(kvlist_get(l, "KEY"));
  kvlist_free(l);
}

static void test_empty_key_and_value(void **state) {
  kvlist_t *l = kvlist_new();
  assert_int_equal(kvlist_add(l, "k", ""), 0);
  assert_int_equal(kvlist_add(l, "", "v"), 0);
  assert_string_equal(kvlist_get(l, "k"), "");
  assert_string_equal(kvlist_get(l, ""), "v");
  kvlist_free(l);
}

static void test_set_adds_and_replaces(void **state) {
  kvlist_t *l = kvlist_new();
  kvlist_set(l, "a", "1");
  kvlist_set(l, "b", "2");
  kvlist_set(l, "a", "3");
  assert_int_equal(l->n, 2);
  assert_string_equal(l->items[0].key, "a");
  assert_string_equal(l->items[0].value, "3");
  assert_string_equal(l->items[1].key, "b");
  kvlist_free(l);
}

static void test_set_with_own_value(void **state) {
  /* Replacing a value with a pointer to itself must not read freed memory. */
  kvlist_t *l = kvlist_new();
  kvlist_set(l, "a", "self");
  kvlist_set(l, "a", kvlist_get(l, "a"));
  assert_string_equal(kvlist_get(l, "a"), "self");
  kvlist_free(l);
}

static void test_owns_copies(void **state) {
  kvlist_t *l = kvlist_new();
  char key[8] = "key", value[8] = "value";
  assert_int_equal(kvlist_add(l, key, value), 0);
  strcpy(key, "xxx");
  strcpy(value, "yyy");
  assert_string_equal(kvlist_get(l, "key"), "value");
  kvlist_free(l);
}

static void test_many_entries_grow(void **state) {
  kvlist_t *l = kvlist_new();
  char key[16];
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    assert_int_equal(kvlist_add(l, key, key), 0);
  }
  assert_int_equal(l->n, 1000);
  assert_true(l->cap >= 1000);
  assert_string_equal(kvlist_get(l, "k999"), "k999");
  assert_string_equal(kvlist_get(l, "k0"), "k0");
  kvlist_free(l);
}

static void test_copy_is_deep(void **state) {
  kvlist_t *l = kvlist_new();
  assert_int_equal(kvlist_add(l, "a", "1"), 0);
  assert_int_equal(kvlist_add(l, "b", "2"), 0);
  kvlist_t *c = kvlist_copy(l);
  assert_non_null(c);
  assert_ptr_not_equal(c, l);
  assert_int_equal(c->n, 2);
  assert_ptr_not_equal(c->items[0].key, l->items[0].key);
  kvlist_set(l, "a", "changed");
  kvlist_free(l);
  assert_string_equal(c->items[0].key, "a");
  assert_string_equal(kvlist_get(c, "a"), "1");
  assert_string_equal(kvlist_get(c, "b"), "2");
  /* The copy is a working list in its own right. */
  assert_int_equal(kvlist_add(c, "a", "x"), -1);
  assert_int_equal(kvlist_add(c, "c", "3"), 0);
  kvlist_free(c);
}

static void test_copy_empty(void **state) {
  kvlist_t *l = kvlist_new();
  kvlist_t *c = kvlist_copy(l);
  assert_non_null(c);
  assert_int_equal(c->n, 0);
  kvlist_free(l);
  kvlist_free(c);
}

static void test_null_safety(void **state) {
  kvlist_free(NULL);
  assert_null(kvlist_get(NULL, "a"));
  assert_null(kvlist_copy(NULL));
  assert_int_equal(kvlist_add(NULL, "a", "b"), -1);
  kvlist_set(NULL, "a", "b");
  kvlist_t *l = kvlist_new();
  assert_null(kvlist_get(l, NULL));
  assert_int_equal(kvlist_add(l, NULL, "b"), -1);
  assert_int_equal(l->n, 0);
  kvlist_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_is_empty),
      cmocka_unit_test(test_add_keeps_order),
      cmocka_unit_test(test_add_refuses_duplicate),
      cmocka_unit_test(test_keys_are_case_sensitive),
      cmocka_unit_test(test_empty_key_and_value),
      cmocka_unit_test(test_set_adds_and_replaces),
      cmocka_unit_test(test_set_with_own_value),
      cmocka_unit_test(test_owns_copies),
      cmocka_unit_test(test_many_entries_grow),
      cmocka_unit_test(test_copy_is_deep),
      cmocka_unit_test(test_copy_empty),
      cmocka_unit_test(test_null_safety),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
