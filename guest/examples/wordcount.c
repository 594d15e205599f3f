/* SPDX-License-Identifier: MIT */
/*
 * wordcount.c - example sandboxed function: count lines, words and bytes
 * of the input (like wc) and the most frequent word, and return them as a
 * small JSON object: {"lines":L,"words":W,"bytes":B,"top":"word","top_count":N}.
 * Uses the runtime's allocator for a hash table sized to the input.
 */
#include "sandbox_guest.h"

struct slot {
	const uint8_t *w;
	uint32_t len, count;
};

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' ||
	       c == '\v';
}

static uint64_t hash(const uint8_t *p, uint32_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

int64_t sandbox_call(const uint8_t *in, size_t len, const void **out,
		     size_t *out_len)
{
	uint64_t lines = 0, words = 0;
	size_t cap = 64;
	struct slot *tab, *top = NULL;
	char *json;

	while (cap < len / 2 + 64)
		cap <<= 1;
	tab = sb_alloc(cap * sizeof(*tab));
	json = sb_alloc(256);
	if (!tab || !json)
		return -SB_ENOMEM;
	for (size_t i = 0; i < len;) {
		size_t s;
		if (in[i] == '\n')
			lines++;
		if (is_space(in[i])) {
			i++;
			continue;
		}
		for (s = i; i < len && !is_space(in[i]); i++)
			;
		words++;
		uint32_t n = (uint32_t)(i - s);
		for (size_t h = hash(in + s, n) & (cap - 1);; h = (h + 1) & (cap - 1)) {
			struct slot *e = &tab[h];
			if (!e->w) {
				e->w = in + s;
				e->len = n;
			} else if (e->len != n || memcmp(e->w, in + s, n)) {
				continue;
			}
			e->count++;
			if (!top || e->count > top->count)
				top = e;
			break;
		}
	}
	char word[48];
	size_t wl = top ? (top->len < sizeof(word) - 1 ? top->len : sizeof(word) - 1) : 0;
	if (top)
		memcpy(word, top->w, wl);
	word[wl] = 0;
	for (size_t i = 0; i < wl; i++)
		if (word[i] == '"' || word[i] == '\\' || word[i] < 0x20)
			word[i] = '_';
	*out_len = (size_t)sb_snprintf(json, 256,
		"{\"lines\":%lu,\"words\":%lu,\"bytes\":%lu,\"top\":\"%s\",\"top_count\":%u}",
		(unsigned long)lines, (unsigned long)words, (unsigned long)len,
		word, top ? top->count : 0);
	*out = json;
	return (int64_t)words;
}
