// Ends the block opened by third_party_begin.h.
#pragma GCC diagnostic pop
