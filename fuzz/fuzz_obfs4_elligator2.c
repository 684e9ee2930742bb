/* fuzz_obfs4_elligator2: obfs4's Elligator 2 on arbitrary bytes. The
 * input, zero-padded to 65 bytes, is a representative (32), a private key
 * (32) and a tweak (1). Any representative must map to a canonical public
 * key that ignores the two padding bits; a private key that has a
 * representative must get one that maps back to its public key and
 * carries the tweak's padding bits; one that has none must leave the
 * keypair zeroed. abort() on any violation. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transports/obfs4/elligator2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* pk < p = 2^255 - 19, compared from the top byte down. */
static bool fuzz_is_canonical(const uint8_t pk[32]) {
  static const uint8_t p[32] = {
      0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
  for (int i = 31; i >= 0; i--) {
    if (pk[i] != p[i])
      return pk[i] < p[i];
  }
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t in[65] = {0};
  memcpy(in, data, size < sizeof in ? size : sizeof in);
  const uint8_t *repr = in, *sk = in + 32;
  uint8_t tweak = in[64];

  uint8_t pk[32], pk2[32], flipped[32];
  elligator2_repr_to_pk(pk, repr);
  if (!fuzz_is_canonical(pk))
    abort();
  memcpy(flipped, repr, 32);
  flipped[31] ^= (uint8_t)(tweak | 0x40) & 0xc0;
  elligator2_repr_to_pk(pk2, flipped);
  if (memcmp(pk, pk2, 32) != 0)
    abort();

  elligator2_keypair_t kp;
  if (elligator2_keypair_from_sk(&kp, sk, tweak)) {
    if (memcmp(kp.sk, sk, 32) != 0 || (kp.repr[31] & 0xc0) != (tweak & 0xc0))
      abort();
    if (!fuzz_is_canonical(kp.pk))
      abort();
    elligator2_repr_to_pk(pk2, kp.repr);
    if (memcmp(pk2, kp.pk, 32) != 0)
      abort();
  } else {
    const uint8_t *b = (const uint8_t *)&kp;
    for (size_t i = 0; i < sizeof kp; i++) {
      if (b[i])
        abort();
    }
  }
  return 0;
}
