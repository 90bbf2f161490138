// Server-sent events over fetch: EventSource cannot send Authorization or POST a body, and
// the agents' run stream is a POST. Parses the text/event-stream format (WHATWG HTML,
// "Server-sent events"): fields event/data/id, blank line ends an event, ':' a comment.
export async function* readSse(response) {
    if (!response.body)
        return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = "message";
    let data = [];
    let id = null;
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done)
                return;
            buffer += value;
            let nl;
            while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
                // A lone "\r" at the end may be the first half of "\r\n" (sse-starlette's separator)
                // split across reads: wait for the next read before deciding.
                if (nl === buffer.length - 1 && buffer[nl] === "\r")
                    break;
                const line = buffer.slice(0, nl);
                buffer = buffer.slice(buffer[nl] === "\r" && buffer[nl + 1] === "\n" ? nl + 2 : nl + 1);
                if (line === "") {
                    if (data.length > 0)
                        yield { event, data: data.join("\n"), id };
                    event = "message";
                    data = [];
                    id = null;
                    continue;
                }
                if (line.startsWith(":"))
                    continue;
                const colon = line.indexOf(":");
                const field = colon < 0 ? line : line.slice(0, colon);
                let val = colon < 0 ? "" : line.slice(colon + 1);
                if (val.startsWith(" "))
                    val = val.slice(1);
                if (field === "event")
                    event = val;
                else if (field === "data")
                    data.push(val);
                else if (field === "id")
                    id = val;
            }
        }
    }
    finally {
        reader.releaseLock();
    }
}
