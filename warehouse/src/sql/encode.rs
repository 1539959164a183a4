//! Query results as JSON, CSV or Parquet, encoded batch by batch as DuckDB produces them and
//! cut at a row cap and a byte cap, so an answer never costs more than its caps whatever the
//! query. The caller sends each piece on as soon as it is encoded.
//!
//! CSV is meant for spreadsheets, so a text cell that starts like a formula (`=`, `+`, `-`,
//! `@`, tab or carriage return) gets a leading `'`: opened in Excel or LibreOffice it shows
//! as text instead of running. JSON and Parquet, meant for programs, carry values unchanged.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{
    DataType, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow::error::ArrowError;
use duckdb::core::{LogicalTypeHandle, LogicalTypeId};

use super::{Format, SqlError};

/// Most rows, and about the most bytes, per Parquet write: the byte cap is checked between
/// them.
const PARQUET_SLICE_ROWS: usize = 1024;
const PARQUET_SLICE_BYTES: usize = 256 * 1024;

/// Why an answer holds fewer rows than the query produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    Rows,
    Bytes,
}

impl Cut {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Cut::Rows => "rows",
            Cut::Bytes => "bytes",
        }
    }
}

/// Encodes one answer. `push` every batch, then `finish`.
pub(crate) struct Encoder {
    format: Format,
    max_rows: usize,
    max_bytes: usize,
    rows: usize,
    bytes: usize,
    cut: Option<Cut>,
    started: Instant,
    parquet: Option<parquet::arrow::ArrowWriter<Vec<u8>>>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("format", &self.format)
            .field("rows", &self.rows)
            .field("bytes", &self.bytes)
            .field("cut", &self.cut)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// Starts an answer; returns the encoder and the first bytes (JSON's column list, CSV's
    /// header row).
    pub(crate) fn start(
        format: Format,
        schema: &SchemaRef,
        types: &[String],
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<(Encoder, Vec<u8>), SqlError> {
        let mut parquet = None;
        let head = match format {
            Format::Json => {
                let columns: Vec<serde_json::Value> = schema
                    .fields()
                    .iter()
                    .zip(types)
                    .map(|(field, ty)| serde_json::json!({"name": field.name(), "type": ty}))
                    .collect();
                let mut out = b"{\"columns\":".to_vec();
                serde_json::to_writer(&mut out, &columns)
                    .map_err(|err| SqlError::Internal(err.to_string()))?;
                out.extend_from_slice(b",\"rows\":[");
                out
            }
            Format::Csv => {
                let mut out = Vec::new();
                let empty =
                    with_utc_offsets(&RecordBatch::new_empty(schema.clone())).map_err(csv_error)?;
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out)
                    .write(&empty)
                    .map_err(csv_error)?;
                out
            }
            Format::Parquet => {
                let properties = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    .build();
                parquet = Some(
                    parquet::arrow::ArrowWriter::try_new(
                        Vec::new(),
                        schema.clone(),
                        Some(properties),
                    )
                    .map_err(parquet_error)?,
                );
                Vec::new()
            }
        };
        let encoder = Encoder {
            format,
            max_rows,
            max_bytes,
            rows: 0,
            bytes: head.len(),
            cut: None,
            started: Instant::now(),
            parquet,
        };
        Ok((encoder, head))
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn cut(&self) -> Option<Cut> {
        self.cut
    }

    /// Encodes as much of `batch` as the caps allow. Returns the bytes to send; once a cap
    /// is hit, [`Encoder::cut`] says which and further batches are ignored.
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, SqlError> {
        if self.cut.is_some() || batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let room = self.max_rows - self.rows;
        let batch = if batch.num_rows() > room {
            self.cut = Some(Cut::Rows);
            batch.slice(0, room)
        } else {
            batch.clone()
        };
        match self.format {
            Format::Json => self.push_json(&batch),
            Format::Csv => self.push_csv(&batch),
            Format::Parquet => self.push_parquet(&batch),
        }
    }

    /// Whether this answer has everything it will send (a cap was reached).
    pub(crate) fn is_full(&self) -> bool {
        self.cut.is_some() || self.rows >= self.max_rows
    }

    /// Marks the answer cut by rows when the query had more rows than the cap. Called when
    /// another non-empty batch arrives after the cap was reached exactly.
    pub(crate) fn more_rows_exist(&mut self) {
        if self.cut.is_none() {
            self.cut = Some(Cut::Rows);
        }
    }

    fn push_json(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, SqlError> {
        let batch = with_utc_offsets(batch).map_err(|err| SqlError::Encoding {
            format: "JSON",
            message: err.to_string(),
        })?;
        let options = arrow::json::writer::EncoderOptions::default();
        let schema = batch.schema();
        let mut encoders = Vec::with_capacity(batch.num_columns());
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            encoders.push(
                arrow::json::writer::make_encoder(field, column.as_ref(), &options).map_err(
                    |err| SqlError::Encoding {
                        format: "JSON",
                        message: err.to_string(),
                    },
                )?,
            );
        }
        let mut out = Vec::new();
        let mut row_bytes = Vec::new();
        for row in 0..batch.num_rows() {
            row_bytes.clear();
            if self.rows > 0 {
                row_bytes.push(b',');
            }
            row_bytes.push(b'[');
            for (i, encoder) in encoders.iter_mut().enumerate() {
                if i > 0 {
                    row_bytes.push(b',');
                }
                if encoder.is_null(row) {
                    row_bytes.extend_from_slice(b"null");
                } else {
                    encoder.encode(row, &mut row_bytes);
                }
            }
            row_bytes.push(b']');
            if !self.take(row_bytes.len()) {
                break;
            }
            out.extend_from_slice(&row_bytes);
        }
        Ok(out)
    }

    fn push_csv(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, SqlError> {
        let mut out = Vec::new();
        let mut row_bytes = Vec::new();
        for row in 0..batch.num_rows() {
            // Row by row: only what fits under the byte cap is ever copied, however wide
            // DuckDB's batch of 2,048 rows is.
            let one = with_utc_offsets(&batch.slice(row, 1)).map_err(csv_error)?;
            let one = neutralise_formulas(&one).map_err(csv_error)?;
            row_bytes.clear();
            arrow::csv::WriterBuilder::new()
                .with_header(false)
                .build(&mut row_bytes)
                .write(&one)
                .map_err(csv_error)?;
            if !self.take(row_bytes.len()) {
                break;
            }
            out.extend_from_slice(&row_bytes);
        }
        Ok(out)
    }

    fn push_parquet(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, SqlError> {
        let Some(writer) = self.parquet.as_mut() else {
            return Err(SqlError::Internal("no Parquet writer".to_owned()));
        };
        // Slices of about PARQUET_SLICE_BYTES, so the writer never holds much more than the
        // cap in memory, however wide the rows.
        let row_bytes = batch.get_array_memory_size() / batch.num_rows().max(1);
        let slice_rows = (PARQUET_SLICE_BYTES / row_bytes.max(1)).clamp(1, PARQUET_SLICE_ROWS);
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = slice_rows.min(batch.num_rows() - offset);
            if writer.bytes_written() + writer.in_progress_size() >= self.max_bytes {
                self.cut = Some(Cut::Bytes);
                break;
            }
            writer
                .write(&batch.slice(offset, len))
                .map_err(parquet_error)?;
            self.rows += len;
            offset += len;
        }
        // Row groups the writer has finished are in its buffer: hand them on.
        let out = std::mem::take(writer.inner_mut());
        self.bytes += out.len();
        Ok(out)
    }

    /// Counts a row of `len` bytes if it fits under the byte cap.
    fn take(&mut self, len: usize) -> bool {
        if self.bytes + len > self.max_bytes {
            self.cut = Some(Cut::Bytes);
            return false;
        }
        self.bytes += len;
        self.rows += 1;
        true
    }

    /// The last bytes of the answer.
    pub(crate) fn finish(self) -> Result<Vec<u8>, SqlError> {
        match self.format {
            Format::Json => {
                let mut out = b"],\"truncated\":".to_vec();
                out.extend_from_slice(if self.cut.is_some() {
                    b"true"
                } else {
                    b"false"
                });
                if let Some(cut) = self.cut {
                    out.extend_from_slice(
                        format!(",\"truncated_by\":\"{}\"", cut.as_str()).as_bytes(),
                    );
                }
                out.extend_from_slice(
                    format!(",\"elapsed_ms\":{}}}", self.started.elapsed().as_millis()).as_bytes(),
                );
                Ok(out)
            }
            Format::Csv => Ok(Vec::new()),
            Format::Parquet => {
                let Some(mut writer) = self.parquet else {
                    return Err(SqlError::Internal("no Parquet writer".to_owned()));
                };
                if let Some(cut) = self.cut {
                    writer.append_key_value_metadata(parquet::file::metadata::KeyValue::new(
                        "truncated_by".to_owned(),
                        cut.as_str().to_owned(),
                    ));
                }
                writer.into_inner().map_err(parquet_error)
            }
        }
    }
}

fn csv_error(err: ArrowError) -> SqlError {
    SqlError::Encoding {
        format: "CSV",
        message: err.to_string(),
    }
}

fn parquet_error(err: parquet::errors::ParquetError) -> SqlError {
    SqlError::Encoding {
        format: "Parquet",
        message: err.to_string(),
    }
}

/// Does a spreadsheet read this cell as a formula?
fn looks_like_formula(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Prefixes `'` to every text cell that [`looks_like_formula`].
pub(crate) fn neutralise_formulas(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        let text = arrow::compute::cast(column, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let safe: StringArray = text
            .iter()
            .map(|cell| {
                cell.map(|value| {
                    if looks_like_formula(value) {
                        format!("'{value}")
                    } else {
                        value.to_owned()
                    }
                })
            })
            .collect();
        fields.push(Arc::new(
            field.as_ref().clone().with_data_type(DataType::Utf8),
        ));
        columns.push(Arc::new(safe));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Relabels `TIMESTAMP WITH TIME ZONE` columns from DuckDB's zone name ("UTC") to the
/// equivalent offset ("+00:00"): the instants are the same, and Arrow's JSON and CSV writers
/// only understand offsets without the (large) time-zone database.
pub(crate) fn with_utc_offsets(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(_, Some(_))))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let DataType::Timestamp(unit, Some(_)) = field.data_type() else {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        };
        let relabelled: ArrayRef = match unit {
            TimeUnit::Second => Arc::new(
                column
                    .as_primitive::<TimestampSecondType>()
                    .clone()
                    .with_timezone("+00:00"),
            ),
            TimeUnit::Millisecond => Arc::new(
                column
                    .as_primitive::<TimestampMillisecondType>()
                    .clone()
                    .with_timezone("+00:00"),
            ),
            TimeUnit::Microsecond => Arc::new(
                column
                    .as_primitive::<TimestampMicrosecondType>()
                    .clone()
                    .with_timezone("+00:00"),
            ),
            TimeUnit::Nanosecond => Arc::new(
                column
                    .as_primitive::<TimestampNanosecondType>()
                    .clone()
                    .with_timezone("+00:00"),
            ),
        };
        fields.push(Arc::new(
            field
                .as_ref()
                .clone()
                .with_data_type(relabelled.data_type().clone()),
        ));
        columns.push(relabelled);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// DuckDB's name for a column type ("BIGINT", "VARCHAR[]", "DECIMAL(18,3)", "JSON").
pub(crate) fn type_name(ty: &LogicalTypeHandle) -> String {
    if let Some(alias) = ty.get_alias() {
        return alias;
    }
    let id = ty.id();
    let plain = match id {
        LogicalTypeId::Boolean => "BOOLEAN",
        LogicalTypeId::Tinyint => "TINYINT",
        LogicalTypeId::Smallint => "SMALLINT",
        LogicalTypeId::Integer => "INTEGER",
        LogicalTypeId::Bigint => "BIGINT",
        LogicalTypeId::UTinyint => "UTINYINT",
        LogicalTypeId::USmallint => "USMALLINT",
        LogicalTypeId::UInteger => "UINTEGER",
        LogicalTypeId::UBigint => "UBIGINT",
        LogicalTypeId::Hugeint => "HUGEINT",
        LogicalTypeId::UHugeint => "UHUGEINT",
        LogicalTypeId::Float => "FLOAT",
        LogicalTypeId::Double => "DOUBLE",
        LogicalTypeId::Varchar => "VARCHAR",
        LogicalTypeId::Blob => "BLOB",
        LogicalTypeId::Date => "DATE",
        LogicalTypeId::Time => "TIME",
        LogicalTypeId::TimeTZ => "TIME WITH TIME ZONE",
        LogicalTypeId::Timestamp => "TIMESTAMP",
        LogicalTypeId::TimestampS => "TIMESTAMP_S",
        LogicalTypeId::TimestampMs => "TIMESTAMP_MS",
        LogicalTypeId::TimestampNs => "TIMESTAMP_NS",
        LogicalTypeId::TimestampTZ => "TIMESTAMP WITH TIME ZONE",
        LogicalTypeId::Interval => "INTERVAL",
        LogicalTypeId::Uuid => "UUID",
        LogicalTypeId::Enum => "ENUM",
        LogicalTypeId::Bit => "BIT",
        LogicalTypeId::SqlNull => "NULL",
        _ => "",
    };
    if !plain.is_empty() {
        return plain.to_owned();
    }
    match id {
        LogicalTypeId::Decimal => {
            format!("DECIMAL({},{})", ty.decimal_width(), ty.decimal_scale())
        }
        LogicalTypeId::List | LogicalTypeId::Array => format!("{}[]", type_name(&ty.child(0))),
        LogicalTypeId::Struct => {
            let fields: Vec<String> = (0..ty.num_children())
                .map(|i| format!("{} {}", ty.child_name(i), type_name(&ty.child(i))))
                .collect();
            format!("STRUCT({})", fields.join(", "))
        }
        LogicalTypeId::Map => "MAP".to_owned(),
        LogicalTypeId::Union => "UNION".to_owned(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::Field;

    fn batch(names: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let numbers: Int64Array = (0..names.len() as i64).map(|n| n - 1).collect();
        let text: StringArray = names.iter().map(|s| Some(*s)).collect();
        RecordBatch::try_new(schema, vec![Arc::new(numbers), Arc::new(text)])
            .unwrap_or_else(|err| panic!("test batch: {err}"))
    }

    fn encode(
        format: Format,
        batches: &[RecordBatch],
        rows: usize,
        bytes: usize,
    ) -> (String, Option<Cut>, usize) {
        let schema = batches[0].schema();
        let types = vec!["BIGINT".to_owned(), "VARCHAR".to_owned()];
        let (mut encoder, mut out) = Encoder::start(format, &schema, &types, rows, bytes)
            .unwrap_or_else(|err| panic!("{err}"));
        for batch in batches {
            if encoder.is_full() {
                encoder.more_rows_exist();
                break;
            }
            out.extend(encoder.push(batch).unwrap_or_else(|err| panic!("{err}")));
        }
        let (cut, n) = (encoder.cut(), encoder.rows());
        out.extend(encoder.finish().unwrap_or_else(|err| panic!("{err}")));
        (String::from_utf8_lossy(&out).into_owned(), cut, n)
    }

    #[test]
    fn csv_cells_that_look_like_formulas_become_text() {
        let (csv, cut, rows) = encode(
            Format::Csv,
            &[batch(&[
                "=HYPERLINK(\"http://x\")",
                "+1",
                "-2",
                "@SUM(A1)",
                "plain",
                "\tx",
            ])],
            100,
            1 << 20,
        );
        assert_eq!(cut, None);
        assert_eq!(rows, 6);
        assert_eq!(
            csv,
            "n,s\n-1,\"'=HYPERLINK(\"\"http://x\"\")\"\n0,'+1\n1,'-2\n2,'@SUM(A1)\n3,plain\n4,'\tx\n"
        );
    }

    #[test]
    fn answers_stop_at_the_row_and_byte_caps() {
        let names: Vec<String> = (0..100).map(|i| format!("name-{i:03}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (json, cut, rows) = encode(Format::Json, &[batch(&names)], 10, 1 << 20);
        assert_eq!((cut, rows), (Some(Cut::Rows), 10));
        let value: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|err| panic!("{err}: {json}"));
        assert_eq!(value["rows"].as_array().map(Vec::len), Some(10));
        assert_eq!(value["truncated_by"], "rows");

        let (json, cut, rows) = encode(Format::Json, &[batch(&names)], 1000, 300);
        assert_eq!(cut, Some(Cut::Bytes));
        assert!(json.len() <= 300 + 100, "{}", json.len());
        let value: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|err| panic!("{err}: {json}"));
        assert_eq!(value["rows"].as_array().map(Vec::len), Some(rows));
        assert_eq!(value["truncated"], true);

        // Exactly the cap's worth of rows, and nothing more: not truncated.
        let (_, cut, rows) = encode(Format::Json, &[batch(&names[..10])], 10, 1 << 20);
        assert_eq!((cut, rows), (None, 10));
        let (_, cut, rows) = encode(
            Format::Csv,
            &[batch(&names[..10]), batch(&names[..3])],
            10,
            1 << 20,
        );
        assert_eq!((cut, rows), (Some(Cut::Rows), 10));
    }
}
