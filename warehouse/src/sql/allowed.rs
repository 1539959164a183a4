//! The functions user SQL may call: an allowlist, reviewed by hand. A function a newer
//! DuckDB adds is refused until someone reads what it does and adds it here, so the sandbox
//! cannot be outgrown by an upgrade. A test checks that every name exists in the DuckDB this
//! build links, so the list cannot rot silently either.
//!
//! What is left out on purpose: anything that reads or writes files or the network
//! (`read_*`, `glob`, `parquet_*`, `sniff_csv`, ...), runs SQL held in a string (`query`,
//! `query_table`, `json_execute_serialized_sql`), reads or changes settings, variables,
//! secrets or the environment (`current_setting`, `getvariable`, `getenv`, `duckdb_settings`,
//! `duckdb_secrets`, `duckdb_databases` which shows file paths), maintenance (`checkpoint`,
//! `force_checkpoint`), randomness with state (`setseed`), and catalog functions beyond the
//! tables, views and columns a query writer needs.
//!
//! Memory is not this list's job: the user-query process has a hard memory ceiling (see
//! `sql::replica`), so functions that can build large values (`repeat`, `range` as a list,
//! `string_agg`, ...) are allowed and fail cleanly at that ceiling.

/// Lower-case names, as `json_serialize_sql` reports them (operators by their symbol).
#[rustfmt::skip]
pub(crate) const FUNCTIONS: &[&str] = &[
    // Operators the parser turns into function calls.
    "+", "-", "*", "/", "//", "%", "^", "**", "||", "~~", "!~~", "~~*", "!~~*", "~~~",
    "->>", "@>", "<@", "&&", "<<", ">>", "&", "|", "~", "!__postfix", "@",
    // Aggregates.
    "count", "count_star", "count_if", "countif", "sum", "sum_no_overflow", "avg", "mean",
    "min", "max", "any_value", "first", "last", "arg_min", "arg_max", "argmin", "argmax",
    "arg_min_null", "arg_max_null", "min_by", "max_by", "median", "mode", "quantile",
    "quantile_cont", "quantile_disc", "approx_quantile", "approx_count_distinct", "stddev",
    "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop", "corr", "covar_pop",
    "covar_samp", "product", "fsum", "favg", "sumkahan", "kahan_sum", "entropy", "kurtosis",
    "kurtosis_pop", "skewness", "mad", "bool_and", "bool_or", "bit_and", "bit_or", "bit_xor",
    "regr_avgx", "regr_avgy", "regr_count", "regr_intercept", "regr_r2", "regr_slope",
    "regr_sxx", "regr_sxy", "regr_syy", "list", "array_agg", "string_agg", "group_concat",
    "listagg", "histogram", "weighted_avg", "wavg",
    // Window functions.
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
    // Numbers.
    "abs", "round", "round_even", "roundbankers", "even", "floor", "ceil", "ceiling", "trunc",
    "sign", "signbit", "sqrt", "cbrt", "pow", "power", "exp", "ln", "log", "log10", "log2",
    "pi", "degrees", "radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "cot",
    "greatest", "least", "isnan", "isinf", "isfinite", "gcd", "lcm", "factorial", "random",
    "nullif", "divide", "add", "subtract", "multiply", "mod", "fdiv", "fmod",
    "bit_count", "xor", "format_bytes", "formatreadablesize", "formatreadabledecimalsize",
    // Text.
    "lower", "upper", "lcase", "ucase", "length", "len", "strlen", "char_length",
    "character_length", "octet_length", "bit_length", "substring", "substr", "left", "right",
    "trim", "ltrim", "rtrim", "replace", "reverse", "repeat", "lpad", "rpad", "concat",
    "concat_ws", "contains", "starts_with", "ends_with", "prefix", "suffix", "position",
    "strpos", "instr", "split_part", "string_split", "str_split", "string_to_array", "split",
    "like_escape", "ilike_escape", "not_like_escape", "not_ilike_escape", "regexp_matches",
    "regexp_full_match", "regexp_extract", "regexp_extract_all", "regexp_replace",
    "regexp_split_to_array", "regexp_escape", "ascii", "chr", "unicode", "ord",
    "translate", "strip_accents", "nfc_normalize", "levenshtein", "damerau_levenshtein",
    "hamming", "jaccard", "jaro_similarity", "jaro_winkler_similarity", "editdist3",
    "mismatches", "printf", "format", "md5", "sha1", "sha256", "hash", "to_base64", "from_base64",
    "base64", "hex", "unhex", "to_hex", "from_hex", "bar", "url_encode", "url_decode",
    // Dates and times.
    "now", "today", "current_date", "get_current_time",
    "get_current_timestamp", "transaction_timestamp", "date_part", "datepart", "date_trunc",
    "datetrunc", "date_diff", "datediff", "date_sub", "datesub", "date_add", "age",
    "strftime", "strptime", "try_strptime", "epoch", "epoch_ms", "epoch_us", "epoch_ns",
    "make_date", "make_time", "make_timestamp", "make_timestamptz", "to_timestamp",
    "time_bucket", "last_day", "dayname", "monthname", "year", "month", "day", "hour",
    "minute", "second", "millisecond", "microsecond", "week", "weekday", "weekofyear",
    "dayofweek", "dayofmonth", "dayofyear", "isodow", "isoyear", "quarter", "yearweek",
    "decade", "century", "millennium", "era", "julian", "timezone", "timezone_hour",
    "timezone_minute", "to_years", "to_months", "to_days", "to_hours", "to_minutes",
    "to_seconds", "to_milliseconds", "to_microseconds", "to_weeks", "to_centuries",
    "to_decades", "to_millennia", "to_quarters", "generate_series", "range",
    // Lists, structs, maps.
    "list_value", "list_pack", "list_extract", "list_element", "array_extract",
    "list_slice", "array_slice", "list_contains", "list_has", "array_contains", "array_has",
    "list_position", "list_indexof", "array_position", "array_indexof", "list_sort",
    "array_sort", "list_reverse_sort", "list_distinct", "array_distinct", "list_unique",
    "array_unique", "list_sum", "list_avg", "list_min", "list_max", "list_count",
    "list_aggregate", "list_aggr", "array_aggregate", "array_aggr", "list_transform",
    "array_transform", "list_apply", "array_apply", "apply", "list_filter", "array_filter",
    "filter", "list_reduce", "array_reduce", "reduce", "list_concat", "list_cat",
    "array_concat", "array_cat", "list_append", "array_append", "list_prepend",
    "array_prepend", "array_length", "flatten", "list_zip", "array_zip", "unnest",
    "struct_pack", "struct_extract", "struct_extract_at", "row", "map", "map_extract",
    "element_at", "map_keys", "map_values", "map_entries", "cardinality",
    // JSON.
    "json_extract", "json_extract_string", "json_extract_path", "json_extract_path_text",
    "json_value", "json_exists", "json_array_length", "json_keys", "json_type", "json_valid",
    "json_contains", "json_structure", "json", "json_object", "json_array", "json_quote",
    "to_json", "json_group_array", "json_group_object",
    // Conditionals and types.
    "typeof", "alias", "constant_or_null", "error",
    // Catalog: the tables, views and columns a query writer needs.
    "current_database", "current_schema", "duckdb_tables", "duckdb_views", "duckdb_columns",
    "duckdb_types", "duckdb_keywords", "version",
];
