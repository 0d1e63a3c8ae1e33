# Reference numbers for ordinal CB-SEM (ordered = ..., estimator = "WLSMV": thresholds,
# two-step polychoric correlations, DWLS estimates with robust.sem standard errors, the
# scaled-and-shifted chi-square and the scaled CFI/TLI/RMSEA), frozen in
# tests/unit/models/test_sem_ordinal.py. lavaan 0.6-14 (Debian's r-cran-lavaan):
#
#   Rscript tests/reference/lavaan_wlsmv.R > tests/reference/lavaan_wlsmv.json
#
# The data: HolzingerSwineford1939's x1..x9 cut at their sample quartiles into 4 ordered
# categories (x1..x5) and at their terciles into 3 (x6..x9), coded 1..K. The cut rows are
# written to tests/reference/hs39_ordered.csv so that the Python tests read them without R.
suppressMessages(library(lavaan))
stopifnot(packageVersion("lavaan") == "0.6.14")

json_number <- function(x) if (is.na(x)) "null" else sprintf("%.10g", x)
json_vector <- function(v) paste0("[", paste(vapply(v, json_number, ""), collapse = ", "), "]")
json_strings <- function(v) paste0("[", paste0('"', v, '"', collapse = ", "), "]")

cut_at <- function(x, probs) {
  as.integer(cut(x, breaks = quantile(x, probs = probs), include.lowest = TRUE, labels = FALSE))
}
hs <- HolzingerSwineford1939
items <- paste0("x", 1:9)
ordinal <- data.frame(lapply(setNames(items, items), function(v) {
  if (v %in% paste0("x", 1:5)) cut_at(hs[[v]], c(0, .25, .5, .75, 1))
  else cut_at(hs[[v]], c(0, 1/3, 2/3, 1))
}))
args <- commandArgs(trailingOnly = TRUE)
csv <- if (length(args) > 0) args[1] else "tests/reference/hs39_ordered.csv"
write.csv(ordinal, csv, row.names = FALSE, quote = FALSE)

model <- '
  visual  =~ x1 + x2 + x3
  textual =~ x4 + x5 + x6
  speed   =~ x7 + x8 + x9
'
fit <- cfa(model, data = ordinal, ordered = items, estimator = "WLSMV")
measures <- c("chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
              "chisq.scaling.factor", "baseline.chisq",
              "baseline.df", "baseline.chisq.scaled", "cfi", "tli", "rmsea", "cfi.scaled",
              "tli.scaled", "rmsea.scaled", "srmr", "rmsea.ci.lower", "rmsea.ci.upper",
              "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled")
sampstat <- lavInspect(fit, "sampstat")
pe <- parameterEstimates(fit, standardized = TRUE)
rows <- sprintf(
  '{"lhs": "%s", "op": "%s", "rhs": "%s", "est": %s, "se": %s, "std_all": %s}',
  pe$lhs, pe$op, pe$rhs, vapply(pe$est, json_number, ""), vapply(pe$se, json_number, ""),
  vapply(pe$std.all, json_number, "")
)
gamma <- lavInspect(fit, "gamma")

# The syntax Manyi supports: NA*, a fixed variance, equal loadings by label, a regression
# among factors and a residual covariance (x9's residual variance comes out negative, a
# Heywood case lavaan warns about).
structural <- '
  visual  =~ NA*x1 + x2 + x3
  textual =~ x4 + a*x5 + a*x6
  speed   =~ x7 + x8 + x9
  visual ~~ 1*visual
  speed ~ visual + textual
  x7 ~~ x8
'
fit2 <- suppressWarnings(cfa(structural, data = ordinal, ordered = items, estimator = "WLSMV"))
pe2 <- parameterEstimates(fit2, standardized = TRUE)
pe2 <- pe2[!pe2$op %in% c("|", "~*~", "~1"), ]
rows2 <- sprintf(
  '{"lhs": "%s", "op": "%s", "rhs": "%s", "est": %s, "se": %s, "std_all": %s}',
  pe2$lhs, pe2$op, pe2$rhs, vapply(pe2$est, json_number, ""), vapply(pe2$se, json_number, ""),
  vapply(pe2$std.all, json_number, "")
)
values2 <- fitMeasures(fit2, c("chisq", "df", "chisq.scaled", "cfi.scaled", "tli.scaled",
                               "rmsea.scaled", "srmr"))
cat("{\n")
cat('  "items": ', json_strings(items), ",\n", sep = "")
cat('  "n_obs": ', lavInspect(fit, "nobs"), ",\n", sep = "")
cat('  "thresholds": {"names": ', json_strings(names(sampstat$th)),
    ', "values": ', json_vector(sampstat$th), "},\n", sep = "")
cat('  "polychoric": [\n    ', paste(apply(sampstat$cov, 1, json_vector), collapse = ",\n    "),
    "\n  ],\n", sep = "")
cat('  "gamma": [\n    ', paste(apply(gamma, 1, json_vector), collapse = ",\n    "),
    "\n  ],\n", sep = "")
values <- fitMeasures(fit, measures)
stopifnot(identical(names(values), measures))  # fitMeasures drops names it does not know
# the shift of the scaled-and-shifted test is not a fit measure; lavaan keeps it in the test
values["chisq.shift.parameter"] <- lavInspect(fit, "test")$scaled.shifted$shift.parameter
cat('  "fit": {', paste(sprintf('"%s": %s', names(values), vapply(values, json_number, "")),
    collapse = ", "), "},\n", sep = "")
cat('  "estimates": [\n    ', paste(rows, collapse = ",\n    "), "\n  ],\n", sep = "")
cat('  "structural": {"model": ', deparse(structural), ',\n    "fit": {',
    paste(sprintf('"%s": %s', names(values2), vapply(values2, json_number, "")), collapse = ", "),
    '},\n    "estimates": [\n      ', paste(rows2, collapse = ",\n      "), "\n    ]\n  }\n",
    sep = "")
cat("}\n")
