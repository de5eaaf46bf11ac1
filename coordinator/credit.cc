#include "coordinator/credit.h"

#include <algorithm>
#include <cmath>

namespace corral::coordinator {

double CreditForVerdict(std::vector<double> s, double cap) {
  if (s.empty()) return 0;
  std::sort(s.begin(), s.end());
  size_t n = s.size();
  double median = s[(n - 1) / 2];
  if (!(median > 0)) return 0;  // also catches NaN
  return std::min(median, cap);
}

double CreditForSingle(double claimed, double held, double cap) {
  double c = std::min(claimed, held);
  if (!(c > 0)) return 0;  // also catches NaN
  return std::min(c, cap);
}

double DecayCredit(double decayed, int64_t decayed_at, int64_t now) {
  if (now <= decayed_at) return decayed;
  return decayed * std::exp2(-static_cast<double>(now - decayed_at) / kRecentCreditHalfLifeS);
}

double RecentAverageCredit(double decayed, int64_t decayed_at, int64_t now) {
  // A steady rate r per day gives a decayed total of r * halflife_days / ln 2.
  return DecayCredit(decayed, decayed_at, now) * std::log(2.0) / (kRecentCreditHalfLifeS / 86400);
}

}  // namespace corral::coordinator
