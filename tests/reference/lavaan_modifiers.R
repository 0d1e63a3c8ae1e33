# lavaan 0.6-14 (Debian's r-cran-lavaan) on HolzingerSwineford1939: the numbers frozen in
# tests/unit/models/test_sem_modifiers.py. Run: Rscript tests/reference/lavaan_modifiers.R
suppressPackageStartupMessages(library(lavaan))
stopifnot(packageVersion("lavaan") == "0.6.14")
hs <- HolzingerSwineford1939

models <- list(
  # NA* frees the first loading; the factor is identified by its variance instead.
  na_first = "visual =~ NA*x1 + x2 + x3
               textual =~ x4 + x5 + x6
               speed =~ x7 + x8 + x9
               visual ~~ 1*visual",
  # Two factors freed the same way: each NA* is its own free parameter, not one shared.
  na_two = "visual =~ NA*x1 + x2 + x3
             textual =~ NA*x4 + x5 + x6
             speed =~ x7 + x8 + x9
             visual ~~ 1*visual
             textual ~~ 1*textual",
  # A label on the first indicator: lavaan still fixes that loading at 1.
  label_first = "visual =~ a*x1 + x2 + x3
                  textual =~ x4 + x5 + x6
                  speed =~ x7 + x8 + x9",
  # Equality by a shared label, and a fixed loading other than 1.
  equal_labels = "visual =~ x1 + x2 + x3
                   textual =~ x4 + b*x5 + b*x6
                   speed =~ 0.5*x7 + x8 + x9",
  # A fixed covariance, and NA* on a covariance (free, as it is by default).
  fixed_cov = "visual =~ x1 + x2 + x3
                textual =~ x4 + x5 + x6
                speed =~ x7 + x8 + x9
                visual ~~ 0*speed
                visual ~~ NA*textual",
  # A label and NA* on the same indicator: lavaan's way to free a loading and name it.
  na_label = "visual =~ l1*x1 + NA*x1 + x2 + x3
               textual =~ x4 + x5 + x6
               speed =~ x7 + x8 + x9
               visual ~~ 1*visual",
  # A second-order factor scaled by its variance: its loadings are on latent indicators.
  second_order = "visual =~ x1 + x2 + x3
                   textual =~ x4 + x5 + x6
                   speed =~ x7 + x8 + x9
                   g =~ NA*visual + textual + speed
                   g ~~ 1*g"
)

for (name in names(models)) {
  fit <- cfa(models[[name]], data = hs)
  m <- fitMeasures(fit, c("chisq", "df", "cfi", "rmsea"))
  pe <- parameterEstimates(fit)
  loadings <- pe[pe$op == "=~", ]
  cat(sprintf("%s chisq=%.6f df=%d cfi=%.6f rmsea=%.6f\n", name, m[["chisq"]], as.integer(m[["df"]]),
              m[["cfi"]], m[["rmsea"]]))
  cat(sprintf("  %s=~%s est=%.6f se=%.6f\n", loadings$lhs, loadings$rhs, loadings$est, loadings$se),
      sep = "")
  variances <- pe[pe$op == "~~" & pe$lhs == pe$rhs & pe$lhs %in% c("visual", "textual", "speed", "g"), ]
  cat(sprintf("  %s~~%s est=%.6f\n", variances$lhs, variances$rhs, variances$est), sep = "")
}
