// AVX2 decoders of the quantized weight dtypes (bit unpacking into int8 levels, 32 at a time)
// and the to_f32 / GEMV dot drivers: levels widened to fp32 and multiplied into the activations
// with FMA, one scale per group.
#include <immintrin.h>

#include <cstring>

#include "simd/quant_kernels.h"

namespace lazyllm::simd {
namespace {

inline __m256i Load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline void Store32(int8_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
inline __m256i Bytes(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }

// Bits k..k+1 (or k alone with mask 1) of every byte: 16-bit shifts never carry a bit across a
// byte boundary once masked.
inline __m256i BitsOf(__m256i v, int k, int mask) { return _mm256_and_si256(_mm256_srli_epi16(v, k), Bytes(mask)); }

// Q4_0-style nibbles of 16 bytes: [low nibbles of bytes 0..15, high nibbles of bytes 0..15].
inline __m256i Nibbles16(const uint8_t* qs) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

// Byte j = 0x10 when bit j of the little-endian u32 at p is set, else 0.
inline __m256i FifthBits(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, 4);
  // Byte j takes byte j/8 of the word, then keeps bit j%8.
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                                             _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), Bytes(0x10));
}

inline __m256i Iq4nlTable() {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
}

struct Q4_1 {
  using Block = BlockQ4_1;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Store32(o->q, Nibbles16(b.qs));
    o->scale[0] = F16ToF32(b.d);
    o->offset[0] = F16ToF32(b.m);
  }
};

struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Store32(o->q, _mm256_sub_epi8(_mm256_or_si256(Nibbles16(b.qs), FifthBits(b.qh)), Bytes(16)));
    o->scale[0] = F16ToF32(b.d);
    o->offset[0] = 0.0f;
  }
};

struct Q5_1 {
  using Block = BlockQ5_1;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Store32(o->q, _mm256_or_si256(Nibbles16(b.qs), FifthBits(b.qh)));
    o->scale[0] = F16ToF32(b.d);
    o->offset[0] = F16ToF32(b.m);
  }
};

struct IQ4_NL {
  using Block = BlockIQ4_NL;
  static constexpr int kElems = 32, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    Store32(o->q, _mm256_shuffle_epi8(Iq4nlTable(), Nibbles16(b.qs)));
    o->scale[0] = F16ToF32(b.d);
    o->offset[0] = 0.0f;
  }
};

struct Q2_K {
  using Block = BlockQ2_K;
  static constexpr int kElems = 256, kGroup = 16;
  static void Decode(const Block& b, DecodedBlock* o) {
    for (int h = 0; h < 2; ++h) {
      const __m256i q = Load32(b.qs + 32 * h);
      for (int s = 0; s < 4; ++s) Store32(o->q + 128 * h + 32 * s, BitsOf(q, 2 * s, 3));
    }
    GroupScalesQ2K(b, o);
  }
};

struct Q3_K {
  using Block = BlockQ3_K;
  static constexpr int kElems = 256, kGroup = 16;
  static void Decode(const Block& b, DecodedBlock* o) {
    const __m256i hm = Load32(b.hmask);
    for (int h = 0; h < 2; ++h) {
      const __m256i q = Load32(b.qs + 32 * h);
      for (int s = 0; s < 4; ++s) {
        // level - 4 + 4·(high bit)
        const __m256i high = _mm256_slli_epi16(BitsOf(hm, 4 * h + s, 1), 2);
        Store32(o->q + 128 * h + 32 * s, _mm256_add_epi8(_mm256_sub_epi8(BitsOf(q, 2 * s, 3), Bytes(4)), high));
      }
    }
    GroupScalesQ3K(b, o);
  }
};

struct Q4_K {
  using Block = BlockQ4_K;
  static constexpr int kElems = 256, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    for (int c = 0; c < 4; ++c) {
      const __m256i q = Load32(b.qs + 32 * c);
      Store32(o->q + 64 * c, _mm256_and_si256(q, Bytes(0x0F)));
      Store32(o->q + 64 * c + 32, BitsOf(q, 4, 0x0F));
    }
    GroupScalesK4(b.scales, b.d, b.dmin, o);
  }
};

struct Q5_K {
  using Block = BlockQ5_K;
  static constexpr int kElems = 256, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    const __m256i qh = Load32(b.qh);
    for (int c = 0; c < 4; ++c) {
      const __m256i q = Load32(b.qs + 32 * c);
      const __m256i lo = _mm256_and_si256(q, Bytes(0x0F)), hi = BitsOf(q, 4, 0x0F);
      Store32(o->q + 64 * c, _mm256_or_si256(lo, _mm256_slli_epi16(BitsOf(qh, 2 * c, 1), 4)));
      Store32(o->q + 64 * c + 32, _mm256_or_si256(hi, _mm256_slli_epi16(BitsOf(qh, 2 * c + 1, 1), 4)));
    }
    GroupScalesK4(b.scales, b.d, b.dmin, o);
  }
};

struct Q6_K {
  using Block = BlockQ6_K;
  static constexpr int kElems = 256, kGroup = 16;
  static void Decode(const Block& b, DecodedBlock* o) {
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = Load32(b.ql + 64 * h), ql1 = Load32(b.ql + 64 * h + 32), qh = Load32(b.qh + 32 * h);
      const __m256i low[4] = {_mm256_and_si256(ql0, Bytes(0x0F)), _mm256_and_si256(ql1, Bytes(0x0F)),
                              BitsOf(ql0, 4, 0x0F), BitsOf(ql1, 4, 0x0F)};
      for (int k = 0; k < 4; ++k) {
        const __m256i q = _mm256_or_si256(low[k], _mm256_slli_epi16(BitsOf(qh, 2 * k, 3), 4));
        Store32(o->q + 128 * h + 32 * k, _mm256_sub_epi8(q, Bytes(32)));
      }
    }
    GroupScalesQ6K(b, o);
  }
};

struct IQ4_XS {
  using Block = BlockIQ4_XS;
  static constexpr int kElems = 256, kGroup = 32;
  static void Decode(const Block& b, DecodedBlock* o) {
    const __m256i table = Iq4nlTable();
    for (int g = 0; g < 8; ++g) Store32(o->q + 32 * g, _mm256_shuffle_epi8(table, Nibbles16(b.qs + 16 * g)));
    GroupScalesIQ4XS(b, o);
  }
};

inline __m256 Levels8(const int8_t* q) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q))));
}

inline float HorizontalSum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// scale·q + offset per element, as a multiply then an add (bit-identical to the scalar twin).
template <class T>
void ToF32(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const typename T::Block*>(src);
  DecodedBlock o;
  for (int64_t blk = 0; blk < n / T::kElems; ++blk, dst += T::kElems) {
    T::Decode(b[blk], &o);
    for (int g = 0; g < T::kElems / T::kGroup; ++g) {
      const __m256 scale = _mm256_set1_ps(o.scale[g]), offset = _mm256_set1_ps(o.offset[g]);
      for (int j = g * T::kGroup; j < (g + 1) * T::kGroup; j += 8)
        _mm256_storeu_ps(dst + j, _mm256_add_ps(_mm256_mul_ps(scale, Levels8(o.q + j)), offset));
    }
  }
}

// Σ over groups of scale·(Σ q·x) + offset·(Σ x), the group sums of x taken from xsum16; two
// accumulator chains.
template <class T>
float Dot(const void* w, const float* x, const float* xsum16, int64_t n) {
  const auto* b = static_cast<const typename T::Block*>(w);
  DecodedBlock o;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  float offsets = 0.0f;
  for (int64_t blk = 0; blk < n / T::kElems; ++blk, x += T::kElems) {
    T::Decode(b[blk], &o);
    for (int g = 0; g < T::kElems / T::kGroup; ++g) {
      const int j = g * T::kGroup;
      __m256 s0 = _mm256_mul_ps(Levels8(o.q + j), _mm256_loadu_ps(x + j));
      __m256 s1 = _mm256_mul_ps(Levels8(o.q + j + 8), _mm256_loadu_ps(x + j + 8));
      if constexpr (T::kGroup == 32) {
        s0 = _mm256_fmadd_ps(Levels8(o.q + j + 16), _mm256_loadu_ps(x + j + 16), s0);
        s1 = _mm256_fmadd_ps(Levels8(o.q + j + 24), _mm256_loadu_ps(x + j + 24), s1);
      }
      const __m256 scale = _mm256_set1_ps(o.scale[g]);
      acc0 = _mm256_fmadd_ps(scale, s0, acc0);
      acc1 = _mm256_fmadd_ps(scale, s1, acc1);
      if (o.offset[g] != 0.0f) {
        const float* xs = xsum16 + (blk * T::kElems + j) / 16;
        offsets += o.offset[g] * (T::kGroup == 32 ? xs[0] + xs[1] : xs[0]);
      }
    }
  }
  return HorizontalSum(_mm256_add_ps(acc0, acc1)) + offsets;
}

// Byte products of signed w and x summed in fours into 8 int32 lanes (lanes 0-3: bytes 0-15):
// maddubs on |w| and x carrying w's sign; |w|, |x| <= 127 keeps the pair sums inside int16.
inline __m256i DotI8(__m256i w, __m256i x) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

inline int32_t HorizontalSumI32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// The twin of the scalar Int8Dot: per weight block, dx · Σ groups (scale · Σ q·qx + offset · Σ qx).
template <class T>
float Int8Dot(const void* w, const void* xq, int64_t n) {
  const auto* b = static_cast<const typename T::Block*>(w);
  DecodedBlock o;
  __m256 acc = _mm256_setzero_ps();
  float offsets = 0.0f;
  for (int64_t blk = 0; blk < n / T::kElems; ++blk) {
    T::Decode(b[blk], &o);
    float dx;
    const int8_t* qx;
    const int16_t* bsums = nullptr;
    if constexpr (T::kElems == kSuperBlock) {
      const BlockQ8_K& a = static_cast<const BlockQ8_K*>(xq)[blk];
      dx = a.d, qx = a.qs, bsums = a.bsums;
    } else {
      const BlockQ8_0& a = static_cast<const BlockQ8_0*>(xq)[blk];
      dx = F16ToF32(a.d), qx = a.qs;
    }
    __m256 block = _mm256_setzero_ps();
    float block_offsets = 0.0f;
    for (int j = 0; j < T::kElems; j += 32) {
      const __m256i x = Load32(qx + j);
      const __m256 isum = _mm256_cvtepi32_ps(DotI8(Load32(o.q + j), x));
      if constexpr (T::kGroup == 32) {
        block = _mm256_fmadd_ps(_mm256_set1_ps(o.scale[j / 32]), isum, block);
      } else {
        const int g = j / 16;
        block = _mm256_fmadd_ps(_mm256_setr_m128(_mm_set1_ps(o.scale[g]), _mm_set1_ps(o.scale[g + 1])), isum, block);
      }
      for (int g = j / T::kGroup; g < (j + 32) / T::kGroup; ++g) {
        if (o.offset[g] == 0.0f) continue;
        int32_t xsum;
        if (bsums != nullptr) xsum = T::kGroup == 32 ? bsums[2 * g] + bsums[2 * g + 1] : bsums[g];
        else xsum = HorizontalSumI32(_mm256_madd_epi16(_mm256_maddubs_epi16(Bytes(1), x), _mm256_set1_epi16(1)));
        block_offsets += o.offset[g] * static_cast<float>(xsum);
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dx), block, acc);
    offsets += dx * block_offsets;
  }
  return HorizontalSum(acc) + offsets;
}

template <class T>
void Install(Kernels& t, DType d) {
  t.dtypes[static_cast<uint32_t>(d)].to_f32 = ToF32<T>;
  t.dtypes[static_cast<uint32_t>(d)].dot = Dot<T>;
  t.dtypes[static_cast<uint32_t>(d)].int8_dot = Int8Dot<T>;
}

}  // namespace

void InstallAvx2QuantKernels(Kernels& t) {
  Install<Q4_1>(t, DType::kQ4_1);
  Install<Q5_0>(t, DType::kQ5_0);
  Install<Q5_1>(t, DType::kQ5_1);
  Install<IQ4_NL>(t, DType::kIQ4_NL);
  Install<Q2_K>(t, DType::kQ2_K);
  Install<Q3_K>(t, DType::kQ3_K);
  Install<Q4_K>(t, DType::kQ4_K);
  Install<Q5_K>(t, DType::kQ5_K);
  Install<Q6_K>(t, DType::kQ6_K);
  Install<IQ4_XS>(t, DType::kIQ4_XS);
}

}  // namespace lazyllm::simd
