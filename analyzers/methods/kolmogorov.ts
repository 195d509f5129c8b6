/**
 * The survival function of the one-sample two-sided Kolmogorov-Smirnov
 * statistic D_n, as scipy.stats.kstwo.sf computes it (Simard & L'Ecuyer,
 * 2011), for the branches scipy takes when n > 140 outside the Durbin-matrix
 * region. scipy's two-sample "asymp" p-value is kstwo.sf(D, round(nm/(n+m))).
 * Returns null where scipy would use the Durbin matrix or Pomeranz
 * recursions, which are not ported; callers keep the engine's value there.
 */
const PI2 = Math.PI ** 2;
const PI4 = Math.PI ** 4;
const PI6 = Math.PI ** 6;
const SQRT2PI = Math.sqrt(2 * Math.PI);
const SQRT3 = Math.sqrt(3);
const MIN_LOG = -708;
const STIRLING = [-2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4, -5.952380952380952381e-4, 7.9365079365079365079e-4, -2.7777777777777777778e-3, 8.3333333333333333333e-2];

const clip = (p: number) => Math.min(1, Math.max(0, p));

/** log(n! / n^n) by Stirling's series, as scipy's _log_nfactorial_div_n_pow_n. */
function logFactorialOverPower(n: number): number {
  const rn = 1 / n;
  let poly = 0;
  for (const c of STIRLING) poly = poly * (rn / n) + c;
  return Math.log(n) / 2 - n + Math.log(2 * Math.PI) / 2 + rn * poly;
}

/** P(D+_n >= x), the one-sided Smirnov survival function, by the exact Birnbaum-Tingey sum in log space. */
export function smirnovSf(n: number, x: number): number {
  if (x <= 0) return 1;
  if (x >= 1) return 0;
  const jmax = Math.floor(n * (1 - x));
  let logChoose = 0; // log C(n, 0)
  let total = 0;
  const logX = Math.log(x);
  for (let j = 0; j <= jmax; j++) {
    if (j > 0) logChoose += Math.log(n - j + 1) - Math.log(j);
    const a = 1 - x - j / n;
    if (a > 0) total += Math.exp(logChoose + (n - j) * Math.log(a) + (j - 1) * Math.log(x + j / n) + logX);
  }
  return total;
}

/** Pelz-Good approximation of P(D_n <= x), a direct port of scipy's _kolmogn_PelzGood. */
function pelzGoodCdf(n: number, x: number): number {
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z3 = z2 * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const qlog = -PI2 / 8 / z2;
  if (qlog < MIN_LOG) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qpower = q ** (8 * k);
    const coeffs = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = K[i] * qpower + coeffs[i];
  }
  const divisors = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = (K[i] * q * SQRT2PI) / divisors[i];
  q = Math.exp(-PI2 / 2 / z2);
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const k2 = k * k;
    const qk = q ** k2;
    const kpi = Math.PI * k;
    k2extra += k2 * qk;
    k3extra += (SQRT3 * z + kpi) * (SQRT3 * z - kpi) * k2 * qk;
  }
  K[2] += (k2extra * PI2 * SQRT2PI) / (-36 * z3);
  K[3] += (k3extra * PI2 * SQRT2PI) / (216 * z6);
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i] / n ** (i / 2);
  return sum;
}

/** scipy.stats.kstwo.sf(x, n), or null in the regions not ported (n <= 140, Durbin-matrix region). */
export function kolmogorovSf(n: number, x: number): number | null {
  if (!(n > 0) || !Number.isInteger(n)) return null;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    if (t <= 0.5) return 1;
    const cdf = n <= 140 ? null : Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    return cdf === null ? null : clip(1 - cdf);
  }
  if (t >= n - 1) return clip(2 * (1 - x) ** n);
  if (x >= 0.5) return clip(2 * smirnovSf(n, x));
  if (n <= 140) return null;
  const nx2 = t * x;
  if (nx2 >= 370) return 0;
  if (nx2 >= 2.2) return clip(2 * smirnovSf(n, x));
  if (n <= 100_000 && n * x ** 1.5 <= 1.4) return null;
  return clip(1 - pelzGoodCdf(n, x));
}

/** scipy.stats.ks_2samp(..., method="asymp") two-sided p-value, or null where not ported. */
export function ks2sampAsympPValue(d: number, n1: number, n2: number): number | null {
  const en = Math.round((n1 * n2) / (n1 + n2));
  return kolmogorovSf(en, d);
}
