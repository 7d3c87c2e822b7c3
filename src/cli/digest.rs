//! `mailroom digest NAME --preview [--period open|last] [--html]` prints a digest;
//! `--send` closes the period now and sends it.

use super::{Context, EXIT_ERROR, EXIT_OK};
use crate::clock;
use crate::deliver::{Deliverer, digest};
use crate::store::digests;
use crate::term::{self, printable};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The digest's name (`[[digest]] name`).
    name: String,
    /// Print it (the default).
    #[arg(long, conflicts_with = "send")]
    preview: bool,
    /// Which period: `open` (events collected since the last one sent) or `last`
    /// (the last one sent).
    #[arg(long, default_value = "open", value_parser = ["open", "last"])]
    period: String,
    /// Print only the HTML part on stdout (Subject and To go to stderr), ready to save
    /// as a file or open in a browser.
    #[arg(long)]
    html: bool,
    /// With --html: print Subject and To on stdout too, before the HTML.
    #[arg(long, requires = "html")]
    headers: bool,
    /// The text as it is, however wide the terminal (piped output always is).
    #[arg(long)]
    wide: bool,
    /// Close the open period now and send it.
    #[arg(long)]
    send: bool,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<u8> {
    let rules = ctx.rules()?;
    let Some(d) = rules.digest(&args.name) else {
        let known = digest::names(&rules.digests).join(", ");
        eprintln!(
            "mailroom digest: no digest named {:?} (known: {})",
            args.name,
            printable(&known)
        );
        return Ok(EXIT_ERROR);
    };
    let mut store = if args.send {
        ctx.open_store()?
    } else {
        ctx.open_existing_store()?
    };
    if args.send {
        let now = clock::now();
        let end = clock::stamp(now);
        let start = digests::last_period_end(store.db(), &d.name)?;
        // Like the scheduled send: no events, no mail, unless the digest asks for it.
        if !d.send_empty && digests::open_digest_items(store.db(), &d.name, &end)?.is_empty() {
            eprintln!(
                "digest {}: no events since the last one; nothing sent (send_empty = true sends empty digests)",
                d.name
            );
            return Ok(EXIT_OK);
        }
        digest::close_period(&mut store, d, start.as_deref(), &end, now)?;
        let deliverer = Deliverer::new(&ctx.config, &store)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let report = runtime.block_on(deliverer.run_due(&mut store))?;
        eprintln!(
            "digest {} queued; {} delivered, {} failed",
            d.name, report.delivered, report.failed
        );
        return Ok(if report.failed == 0 && report.dead == 0 {
            EXIT_OK
        } else {
            EXIT_ERROR
        });
    }
    let mail = match args.period.as_str() {
        "last" => match digest::preview_last(&store, d)? {
            Some(m) => m,
            None => {
                eprintln!("digest {} has not been sent yet", d.name);
                return Ok(EXIT_ERROR);
            }
        },
        _ => digest::preview_open(&store, d, clock::now())?,
    };
    // Event values may hold control characters: shown escaped, never sent to the
    // terminal raw.
    let headers = format!(
        "Subject: {}\nTo: {}\n",
        printable(mail["subject"].as_str().unwrap_or_default()),
        printable(&d.to.join(", "))
    );
    if args.html {
        // Only the page on stdout, unless asked: `> digest.html` must be a page.
        if args.headers {
            println!("{headers}");
        } else {
            eprint!("{headers}");
        }
        println!("{}", printable(mail["html"].as_str().unwrap_or_default()));
        return Ok(EXIT_OK);
    }
    let text = format!(
        "{headers}\n{}",
        printable(mail["text"].as_str().unwrap_or_default())
    );
    match term::width(args.wide) {
        Some(width) => {
            for line in text.lines().flat_map(|l| term::wrap(l, width)) {
                println!("{line}");
            }
        }
        None => println!("{text}"),
    }
    Ok(EXIT_OK)
}
