//! `ejtimaa connect`: the admin socket's client, with line editing, history
//! and tab completion of commands; or `--stats` for one line in scripts.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, bail};
use rustyline::Helper;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;

use crate::admin::{commands::COMMANDS, unframe};

/// An open admin connection.
struct Connection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Connection {
    fn open(path: &Path) -> anyhow::Result<(Self, String)> {
        let stream = UnixStream::connect(path).with_context(|| {
            format!(
                "cannot connect to the admin socket {} (is the server running?)",
                path.display()
            )
        })?;
        let writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let mut greeting = String::new();
        reader.read_line(&mut greeting)?;
        Ok((Self { reader, writer }, greeting))
    }

    /// Sends a command; returns its answer (and whether it is an error).
    fn ask(&mut self, command: &str) -> anyhow::Result<(String, bool)> {
        writeln!(self.writer, "{command}")?;
        let mut answer = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("the server closed the connection");
            }
            match unframe(line.trim_end_matches('\n')) {
                None => break,
                Some(text) => {
                    answer.push_str(text);
                    answer.push('\n');
                }
            }
        }
        let error = answer.starts_with("error: ");
        Ok((answer, error))
    }
}

/// Completes the first word from the command list.
struct Commands;

impl Helper for Commands {}
impl Highlighter for Commands {}
impl Validator for Commands {}
impl Hinter for Commands {
    type Hint = String;
}

impl Completer for Commands {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let word = &line[..pos];
        if word.contains(' ') {
            return Ok((pos, Vec::new()));
        }
        let names = COMMANDS
            .iter()
            .map(|(c, _)| c.split(' ').next().unwrap_or(c))
            .chain(["quit"]);
        let found = names
            .filter(|n| n.starts_with(word))
            .map(|n| Pair {
                display: n.to_string(),
                replacement: n.to_string(),
            })
            .collect();
        Ok((0, found))
    }
}

/// Runs the client.
pub fn run(socket: &Path, stats: bool) -> anyhow::Result<()> {
    let (mut conn, greeting) = Connection::open(socket)?;
    if stats {
        let (answer, error) = conn.ask("stats")?;
        print!("{answer}");
        if error {
            bail!("the server answered an error");
        }
        return Ok(());
    }
    print!("{greeting}");
    let mut editor = rustyline::Editor::<Commands, rustyline::history::DefaultHistory>::new()?;
    editor.set_helper(Some(Commands));
    let history = std::env::var_os("HOME").map(|h| Path::new(&h).join(".ejtimaa_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    loop {
        match editor.readline("ejtimaa> ") {
            Ok(line) => {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                if matches!(line, "quit" | "exit") {
                    break;
                }
                let _ = editor.add_history_entry(line);
                let (answer, _) = conn.ask(line)?;
                print!("{answer}");
            }
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}
