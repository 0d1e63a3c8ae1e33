# Reference numbers for multi-group CB-SEM and the measurement-invariance sequence
# (tests/unit/models/test_sem_groups.py), from lavaan 0.6-14 (Debian's r-cran-lavaan).
#
#   Rscript tests/reference/lavaan_multigroup.R > tests/reference/lavaan_multigroup.json
#
# HS39 is lavaan's HolzingerSwineford1939 (the tests read semopy's copy of the same rows).
suppressMessages(library(lavaan))
stopifnot(packageVersion("lavaan") == "0.6.14")

json_number <- function(x) {
  if (is.na(x)) "null" else sprintf("%.10g", x)
}
json_vector <- function(v) paste0("[", paste(vapply(v, json_number, ""), collapse = ", "), "]")
json_strings <- function(v) paste0("[", paste0('"', v, '"', collapse = ", "), "]")

hs <- HolzingerSwineford1939

model <- '
  visual  =~ x1 + x2 + x3
  textual =~ x4 + x5 + x6
  speed   =~ x7 + x8 + x9
'
measures <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower",
              "rmsea.ci.upper", "srmr", "aic", "bic", "logl", "baseline.chisq",
              "baseline.df", "npar")
levels <- list(configural = "", metric = "loadings",
               scalar = c("loadings", "intercepts"),
               strict = c("loadings", "intercepts", "residuals"))
fits <- lapply(levels, function(eq) cfa(model, data = hs, group = "school", group.equal = eq))

estimates <- function(fit) {
  pe <- parameterEstimates(fit, standardized = TRUE)
  rows <- sprintf('{"lhs": "%s", "op": "%s", "rhs": "%s", "group": %d, "est": %s, "se": %s, "std_all": %s}',
                  pe$lhs, pe$op, pe$rhs, pe$group, vapply(pe$est, json_number, ""),
                  vapply(pe$se, json_number, ""), vapply(pe$std.all, json_number, ""))
  paste0("[\n      ", paste(rows, collapse = ",\n      "), "\n    ]")
}

cat("{\n")
cat('  "groups": ', json_strings(lavInspect(fits$configural, "group.label")), ",\n", sep = "")
cat('  "n": ', json_vector(unlist(lavInspect(fits$configural, "nobs"))), ",\n", sep = "")
cat('  "measures": ', json_strings(measures), ",\n", sep = "")
cat('  "levels": {\n')
for (name in names(fits)) {
  cat('    "', name, '": {"fit": ', json_vector(fitMeasures(fits[[name]], measures)),
      ', "estimates": ', estimates(fits[[name]]), "}",
      if (name != "strict") "," else "", "\n", sep = "")
}
cat("  },\n")
lrt <- lavTestLRT(fits$configural, fits$metric, fits$scalar, fits$strict)
cat('  "lrt": {"chisq_diff": ', json_vector(lrt[["Chisq diff"]]),
    ', "df_diff": ', json_vector(lrt[["Df diff"]]),
    ', "p_value": ', json_vector(lrt[["Pr(>Chisq)"]]), "},\n", sep = "")

# A structural model with a label, a fixed residual covariance, two pure outcomes (whose
# residuals covary by lavaan's auto.cov.y) and equal regressions across groups.
structural <- '
  visual  =~ x1 + a*x2 + x3
  textual =~ x4 + x5 + x6
  speed   =~ x7 + x8 + x9
  textual ~ visual
  speed ~ visual
  x3 ~~ 0.2*x5
'
fit <- sem(structural, data = hs, group = "school", group.equal = c("loadings", "regressions"))
cat('  "structural": {"fit": ', json_vector(fitMeasures(fit, measures)),
    ', "estimates": ', estimates(fit), "}\n", sep = "")
cat("}\n")
