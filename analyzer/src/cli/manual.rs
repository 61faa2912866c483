//! `caro-analyze man` and `caro-analyze completions SHELL`: the manual
//! page and the shells' completion scripts, made from the same clap
//! definition as the parser, so that they never drift from it.
//!
//! The page is one page for the whole tool, as `git` or `cargo` are not:
//! every command with its arguments, then the exit codes. clap_mangen
//! draws its head (name, synopsis, description, the global options); the
//! commands are drawn here, because clap_mangen would only list them as
//! pages of their own (`caro-analyze-logs(1)`) that nothing installs.

use std::io::{self, Write};

use clap::{Arg, Command};

use crate::error::exit;

/// Writes the completion script for `shell` of `cmd` to `out`.
pub fn completions(
    shell: clap_complete::Shell,
    cmd: &mut Command,
    out: &mut dyn Write,
) -> io::Result<()> {
    // Into memory first: clap_complete panics when its writer fails (a
    // closed pipe), and a Vec never does.
    let mut script = Vec::new();
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, cmd, name, &mut script);
    out.write_all(&script)
}

/// Writes the manual page (roff) of `cmd` to `out`.
pub fn man_page(cmd: Command, out: &mut dyn Write) -> io::Result<()> {
    // Into memory first, for the same reason as the completions.
    let mut page = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    writeln!(page, ".SH COMMANDS")?;
    for sub in visible_subcommands(&cmd) {
        command_section(&mut page, sub, cmd.get_name())?;
    }
    writeln!(page, ".SH \"EXIT STATUS\"")?;
    for (code, meaning) in exit::CODES {
        writeln!(page, ".TP\n.B {code}\n{}", roff(meaning))?;
    }
    man.render_version_section(&mut page)?;
    out.write_all(&page)
}

/// The subcommands a person can run (not clap's `help`).
fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// A subsection for `cmd` (run as `parent cmd`): its usage, what it does,
/// its arguments, then its own subcommands, each a subsection too.
fn command_section(page: &mut Vec<u8>, cmd: &Command, parent: &str) -> io::Result<()> {
    let path = format!("{parent} {}", cmd.get_name());
    let mut usage = path.clone();
    for arg in arguments(cmd) {
        usage.push(' ');
        usage += &arg_usage(arg);
    }
    if cmd.has_subcommands() {
        usage += " COMMAND";
    }
    writeln!(page, ".SS \"{}\"", roff(&usage).replace('"', "\\(dq"))?;
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        writeln!(page, "{}", roff(&about.to_string()))?;
    }
    for arg in arguments(cmd) {
        writeln!(page, ".TP\n{}", arg_heading(arg))?;
        if let Some(help) = arg.get_long_help().or(arg.get_help()) {
            writeln!(page, "{}", roff(&help.to_string()))?;
        }
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_owned())
            .collect();
        if !values.is_empty() && arg.get_action().takes_values() {
            writeln!(page, ".br\nOne of: {}.", roff(&values.join(", ")))?;
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && arg.get_action().takes_values() {
            writeln!(page, ".br\nDefault: {}.", roff(&defaults.join(", ")))?;
        }
    }
    if let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        // Written for a terminal, line by line: kept as it is.
        writeln!(page, ".PP\n.nf\n{}\n.fi", roff(&after.to_string()))?;
    }
    for sub in visible_subcommands(cmd) {
        command_section(page, sub, &path)?;
    }
    Ok(())
}

/// The arguments of `cmd` worth listing (not `--help`, not hidden ones).
fn arguments(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version")
}

/// `ID`, `[--slow DURATION]`, `--format FORMAT`.
fn arg_usage(arg: &Arg) -> String {
    let value = value_name(arg);
    let text = match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => format!(
            "--{long}{}",
            value.map(|v| format!(" {v}")).unwrap_or_default()
        ),
        (None, Some(short)) => format!(
            "-{short}{}",
            value.map(|v| format!(" {v}")).unwrap_or_default()
        ),
        (None, None) => value.unwrap_or_else(|| arg.get_id().to_string().to_uppercase()),
    };
    if arg.is_required_set() {
        text
    } else {
        format!("[{text}]")
    }
}

/// The heading line of an argument: `\fB\-f\fR, \fB\-\-follow\fR`.
fn arg_heading(arg: &Arg) -> String {
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("\\fB\\-{}\\fR", roff(&short.to_string())));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", roff(long)));
    }
    let value = value_name(arg).map(|v| format!("\\fI{}\\fR", roff(&v)));
    match (names.is_empty(), value) {
        (true, Some(v)) => v,
        (true, None) => format!("\\fI{}\\fR", roff(&arg.get_id().to_string().to_uppercase())),
        (false, Some(v)) => format!("{} {v}", names.join(", ")),
        (false, None) => names.join(", "),
    }
}

/// The name of the value an argument takes, if it takes one.
fn value_name(arg: &Arg) -> Option<String> {
    if !arg.get_action().takes_values() {
        return None;
    }
    Some(match arg.get_value_names() {
        Some(names) => names
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        None => arg.get_id().to_string().to_uppercase(),
    })
}

/// `text` as roff reads it literally: backslashes and hyphens escaped, and
/// no line starting with a control character.
fn roff(text: &str) -> String {
    text.replace('\\', "\\e")
        .replace('-', "\\-")
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_text_is_taken_literally() {
        assert_eq!(roff("--since 2d"), "\\-\\-since 2d");
        assert_eq!(roff("a\\b"), "a\\eb");
        assert_eq!(roff("x\n.TH y\n'z"), "x\n\\&.TH y\n\\&'z");
    }
}
