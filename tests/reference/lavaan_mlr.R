# Reference numbers for robust ML (estimator = "MLR": Huber-White standard errors, the
# Yuan-Bentler scaled chi-square and the robust CFI/TLI/RMSEA), frozen in
# tests/unit/models/test_sem_robust.py. lavaan 0.6-14 (Debian's r-cran-lavaan):
#
#   Rscript tests/reference/lavaan_mlr.R > tests/reference/lavaan_mlr.json
suppressMessages(library(lavaan))
stopifnot(packageVersion("lavaan") == "0.6.14")

json_number <- function(x) if (is.na(x)) "null" else sprintf("%.10g", x)
json_vector <- function(v) paste0("[", paste(vapply(v, json_number, ""), collapse = ", "), "]")
json_strings <- function(v) paste0("[", paste0('"', v, '"', collapse = ", "), "]")

hs <- HolzingerSwineford1939
model <- '
  visual  =~ x1 + x2 + x3
  textual =~ x4 + x5 + x6
  speed   =~ x7 + x8 + x9
'
measures <- c("chisq", "df", "chisq.scaled", "chisq.scaling.factor", "baseline.chisq",
              "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi", "tli",
              "rmsea", "srmr", "aic", "bic", "cfi.robust", "tli.robust", "rmsea.robust")
estimates <- function(fit) {
  pe <- parameterEstimates(fit)
  if (is.null(pe$group)) pe$group <- 1L
  rows <- sprintf('{"lhs": "%s", "op": "%s", "rhs": "%s", "group": %d, "est": %s, "se": %s}',
                  pe$lhs, pe$op, pe$rhs, pe$group, vapply(pe$est, json_number, ""),
                  vapply(pe$se, json_number, ""))
  paste0("[\n      ", paste(rows, collapse = ",\n      "), "\n    ]")
}
single <- cfa(model, data = hs, estimator = "MLR")
groups <- cfa(model, data = hs, estimator = "MLR", group = "school",
              group.equal = c("loadings", "intercepts"))
cat("{\n")
cat('  "measures": ', json_strings(measures), ",\n", sep = "")
cat('  "single": {"fit": ', json_vector(fitMeasures(single, measures)),
    ', "estimates": ', estimates(single), "},\n", sep = "")
cat('  "scalar_by_school": {"fit": ', json_vector(fitMeasures(groups, measures)),
    ', "estimates": ', estimates(groups), "}\n", sep = "")
cat("}\n")
