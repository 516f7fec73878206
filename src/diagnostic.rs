//! Errors shown to the user: a message, the file:line:column it concerns, and a hint.
//! Rendered by miette (with the offending line underlined) and always starting with
//! `file:line:column:` so that plain logs and editors can jump to the place.

use miette::{LabeledSpan, NamedSource, SourceSpan};

use crate::spec::yaml::Loc;

/// One problem, optionally tied to a place in a source file.
#[derive(Debug, Clone)]
pub struct Diag {
    pub loc: Option<Loc>,
    pub message: String,
    pub help: Option<String>,
}

impl Diag {
    pub fn at(loc: &Loc, message: impl Into<String>) -> Self {
        Self {
            loc: Some(loc.clone()),
            message: message.into(),
            help: None,
        }
    }

    pub fn plain(message: impl Into<String>) -> Self {
        Self {
            loc: None,
            message: message.into(),
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl std::fmt::Display for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.loc {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for Diag {}

impl miette::Diagnostic for Diag {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.loc
            .as_ref()
            .map(|l| &l.source.text as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let loc = self.loc.as_ref()?;
        let span = SourceSpan::new(loc.offset.into(), loc.len.max(1));
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some("here".into()),
            span,
        ))))
    }
}

/// Several problems found together (validation reports all it finds, not only the first).
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diag>);

impl Diagnostics {
    pub fn push(&mut self, d: Diag) {
        self.0.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was reported.
    pub fn into_result(self) -> Result<(), Diagnostics> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl From<Diag> for Diagnostics {
    fn from(d: Diag) -> Self {
        Self(vec![d])
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A wrapper so that miette can render a `Diag` with a named source file.
pub fn render(d: &Diag) -> miette::Report {
    let report = miette::Report::new(d.clone());
    match &d.loc {
        Some(loc) => {
            report.with_source_code(NamedSource::new(&loc.source.name, loc.source.text.clone()))
        }
        None => report,
    }
}
