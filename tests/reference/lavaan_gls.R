# lavaan 0.6-14 (Debian's r-cran-lavaan): GLS on HolzingerSwineford1939, the numbers frozen in
# tests/unit/models/test_sem.py (test_gls_chisq_uses_n_minus_one_as_lavaan).
# Run: Rscript tests/reference/lavaan_gls.R
suppressPackageStartupMessages(library(lavaan))
stopifnot(packageVersion("lavaan") == "0.6.14")
model <- "visual =~ x1 + x2 + x3
          textual =~ x4 + x5 + x6
          speed =~ x7 + x8 + x9"
fit <- cfa(model, data = HolzingerSwineford1939, estimator = "GLS")
m <- fitMeasures(fit, c("chisq", "df", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
                        "srmr", "baseline.chisq", "baseline.df"))
cat(sprintf("%s=%.6f\n", names(m), m), sep = "")
pe <- parameterEstimates(fit)
cat(sprintf("%s%s%s est=%.6f se=%.6f\n", pe$lhs, pe$op, pe$rhs, pe$est, pe$se)[1:9], sep = "")
