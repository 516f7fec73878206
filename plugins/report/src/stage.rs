//! stage
pub struct ReportHtml;
