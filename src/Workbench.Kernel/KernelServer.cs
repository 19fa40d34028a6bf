using System.Text.Json.Nodes;
using NetMQ;
using NetMQ.Sockets;
using Workbench.Notebooks;

namespace Workbench.Kernel;

/// <summary>
/// The Papers Jupyter kernel: the Jupyter messaging protocol 5.3 over ZeroMQ (NetMQ) in front of the same
/// <see cref="NotebookEngine"/> that <c>papers notebook run</c> uses. Shell requests run one at a time on the shell thread;
/// the control thread answers interrupts and shutdowns meanwhile; the heartbeat echoes on its own thread.
/// Supported: kernel_info, execute, complete, is_complete, inspect (signature and XML summary), history (empty), comm_info (empty),
/// interrupt (message mode), shutdown. Badly signed messages are rejected and logged to stderr.
/// </summary>
public sealed class KernelServer : IDisposable
{
    readonly ConnectionInfo conn;
    readonly Wire wire = new Wire("", "");
    readonly RouterSocket shell = new(), control = new(), stdin = new();
    readonly PublisherSocket iopub = new();
    readonly ResponseSocket hb = new();
    readonly object iopubGate = new();
    readonly NotebookEngine engine = new();
    readonly CodeAssist assist = new();
    readonly CancellationTokenSource stop = new();
    readonly TextWriter log = Console.Error;      // captured at start: cells redirect Console.Error while they run
    int executionCount;
    static readonly HashSet<string> ControlTypes = ["interrupt_request", "shutdown_request", "kernel_info_request"];

    public KernelServer(ConnectionInfo conn)
    {
        this.conn = conn;
        wire = new Wire(conn.Key, Guid.NewGuid().ToString());
        shell.Bind(conn.Address(conn.ShellPort));
        control.Bind(conn.Address(conn.ControlPort));
        stdin.Bind(conn.Address(conn.StdinPort));
        iopub.Bind(conn.Address(conn.IopubPort));
        hb.Bind(conn.Address(conn.HbPort));
    }

    /// <summary>Runs until a shutdown request arrives.</summary>
    public void Run()
    {
        var threads = new[]
        {
            new Thread(() => Loop(shell, isControl: false)) { Name = "shell", IsBackground = true },
            new Thread(() => Loop(control, isControl: true)) { Name = "control", IsBackground = true },
            new Thread(Heartbeat) { Name = "heartbeat", IsBackground = true },
        };
        foreach (var t in threads) t.Start();
        Publish("status", new JsonObject { ["execution_state"] = "starting" }, null);
        stop.Token.WaitHandle.WaitOne();
        foreach (var t in threads) t.Join(TimeSpan.FromSeconds(2));   // the loops see the stop within 200 ms
        Thread.Sleep(100);   // let the last replies leave
    }

    void Heartbeat()
    {
        while (!stop.IsCancellationRequested)
        {
            if (hb.TryReceiveFrameBytes(TimeSpan.FromMilliseconds(200), out var ping, out var more))
            {
                var frames = new List<byte[]> { ping };
                while (more) { frames.Add(hb.ReceiveFrameBytes(out more)); }
                var msg = new NetMQMessage(frames);
                hb.SendMultipartMessage(msg);
            }
        }
    }

    void Loop(RouterSocket socket, bool isControl)
    {
        while (!stop.IsCancellationRequested)
        {
            var frames = new List<byte[]>();
            if (!socket.TryReceiveMultipartBytes(TimeSpan.FromMilliseconds(200), ref frames)) continue;
            var msg = wire.Parse(frames, out var problem);
            if (msg is null) { log.WriteLine($"[papers-kernel] {(isControl ? "control" : "shell")}: {problem}"); continue; }
            // The control thread runs beside a busy shell thread: it must not touch the engine.
            if (isControl && !ControlTypes.Contains(msg.Type)) { log.WriteLine($"[papers-kernel] control: ignoring {msg.Type}"); continue; }
            try { Handle(socket, msg, isControl); }
            catch (Exception e) { log.WriteLine($"[papers-kernel] {msg.Type} failed: {e}"); }
        }
    }

    void Reply(RouterSocket socket, JupyterMessage parent, string type, JsonObject content)
    {
        var frames = wire.Frames(type, content, parent, parent.Identities);
        lock (socket) socket.SendMultipartBytes(frames);
    }

    void Publish(string type, JsonObject content, JupyterMessage? parent)
    {
        var frames = wire.Frames(type, content, parent, [System.Text.Encoding.UTF8.GetBytes(type)]);
        lock (iopubGate) iopub.SendMultipartBytes(frames);
    }

    void Handle(RouterSocket socket, JupyterMessage msg, bool isControl)
    {
        Publish("status", new JsonObject { ["execution_state"] = "busy" }, msg);
        try
        {
            switch (msg.Type)
            {
                case "kernel_info_request": Reply(socket, msg, "kernel_info_reply", KernelInfo()); break;
                case "execute_request": Execute(socket, msg); break;
                case "is_complete_request":
                {
                    var status = CodeAssist.IsComplete(msg.Content["code"]?.GetValue<string>() ?? "");
                    var c = new JsonObject { ["status"] = status };
                    if (status == "incomplete") c["indent"] = "    ";
                    Reply(socket, msg, "is_complete_reply", c);
                    break;
                }
                case "complete_request":
                {
                    var code = msg.Content["code"]?.GetValue<string>() ?? "";
                    var cursor = msg.Content["cursor_pos"]?.GetValue<int>() ?? code.Length;
                    var (matches, start, end) = assist.Complete(code, cursor);
                    Reply(socket, msg, "complete_reply", new JsonObject
                    {
                        ["status"] = "ok", ["matches"] = new JsonArray(matches.Select(m => (JsonNode)JsonValue.Create(m)!).ToArray()),
                        ["cursor_start"] = start, ["cursor_end"] = end, ["metadata"] = new JsonObject(),
                    });
                    break;
                }
                case "inspect_request":
                {
                    var code = msg.Content["code"]?.GetValue<string>() ?? "";
                    var info = assist.Inspect(code, msg.Content["cursor_pos"]?.GetValue<int>() ?? code.Length);
                    Reply(socket, msg, "inspect_reply", new JsonObject
                    {
                        ["status"] = "ok", ["found"] = info is not null,
                        ["data"] = info is null ? new JsonObject() : new JsonObject { ["text/plain"] = info }, ["metadata"] = new JsonObject(),
                    });
                    break;
                }
                case "history_request":
                    Reply(socket, msg, "history_reply", new JsonObject { ["status"] = "ok", ["history"] = new JsonArray() });
                    break;
                case "comm_info_request":
                    Reply(socket, msg, "comm_info_reply", new JsonObject { ["status"] = "ok", ["comms"] = new JsonObject() });
                    break;
                case "interrupt_request":
                    Workbench.Runtime.Interrupt.Request();
                    Reply(socket, msg, "interrupt_reply", new JsonObject { ["status"] = "ok" });
                    break;
                case "shutdown_request":
                    Reply(socket, msg, "shutdown_reply", new JsonObject { ["status"] = "ok", ["restart"] = msg.Content["restart"]?.GetValue<bool>() ?? false });
                    Publish("status", new JsonObject { ["execution_state"] = "idle" }, msg);
                    stop.Cancel();
                    return;
                default:
                    log.WriteLine($"[papers-kernel] ignoring {msg.Type}");
                    break;
            }
        }
        finally
        {
            if (!stop.IsCancellationRequested) Publish("status", new JsonObject { ["execution_state"] = "idle" }, msg);
        }
    }

    static JsonObject KernelInfo() => new()
    {
        ["status"] = "ok",
        ["protocol_version"] = Wire.ProtocolVersion,
        ["implementation"] = "papers",
        ["implementation_version"] = typeof(KernelServer).Assembly.GetName().Version?.ToString() ?? "0",
        ["language_info"] = new JsonObject
        {
            ["name"] = "C#", ["version"] = "13.0", ["mimetype"] = "text/x-csharp", ["file_extension"] = ".cs",
            ["pygments_lexer"] = "csharp", ["codemirror_mode"] = "text/x-csharp",
        },
        ["banner"] = "Papers C# kernel (Roslyn scripting over the Papers workbench, .NET " + Environment.Version + ")",
        ["help_links"] = new JsonArray(),
        ["debugger"] = false,
    };

    void Execute(RouterSocket socket, JupyterMessage msg)
    {
        var code = msg.Content["code"]?.GetValue<string>() ?? "";
        bool silent = msg.Content["silent"]?.GetValue<bool>() ?? false;
        bool store = !silent && (msg.Content["store_history"]?.GetValue<bool>() ?? true);
        if (store) executionCount++;
        int count = executionCount;
        if (!silent) Publish("execute_input", new JsonObject { ["code"] = code, ["execution_count"] = count }, msg);
        void Live(CellOutput o)
        {
            if (silent || o.Kind == "error") return;
            var j = o.ToJson(count);
            j.Remove("output_type");
            if (o.Kind == "stream") j["text"] = o.Text;                          // one string on the wire
            if (o.Kind == "display_data") j["transient"] = new JsonObject();
            if (j["data"] is JsonObject data)
                foreach (var k in data.Select(kv => kv.Key).ToList())
                    if (data[k] is JsonArray lines) data[k] = NotebookDocument.TextOf(lines);
            Publish(o.Kind, j, msg);
        }
        var run = engine.RunCellAsync(Math.Max(0, count - 1), code, Live).GetAwaiter().GetResult();
        if (run.Error is { } e)
        {
            var tb = new JsonArray(e.Detail.Split('\n').Select(l => (JsonNode)JsonValue.Create(l)!).ToArray());
            if (!silent) Publish("error", new JsonObject { ["ename"] = e.Name, ["evalue"] = e.Located, ["traceback"] = tb.DeepClone() }, msg);
            Reply(socket, msg, "execute_reply", new JsonObject
            {
                ["status"] = "error", ["execution_count"] = count, ["ename"] = e.Name, ["evalue"] = e.Located, ["traceback"] = tb,
            });
            if (msg.Content["stop_on_error"]?.GetValue<bool>() ?? true) AbortQueued(socket);
        }
        else
        {
            assist.Executed(code);
            Reply(socket, msg, "execute_reply", new JsonObject
            {
                ["status"] = "ok", ["execution_count"] = count, ["user_expressions"] = new JsonObject(), ["payload"] = new JsonArray(),
            });
        }
    }

    /// <summary>After a failed cell (stop_on_error), the execute requests already queued are answered "aborted", as a
    /// front end running all cells expects; other queued requests are handled normally.</summary>
    void AbortQueued(RouterSocket socket)
    {
        var frames = new List<byte[]>();
        while (socket.TryReceiveMultipartBytes(TimeSpan.Zero, ref frames))
        {
            var queued = wire.Parse(frames, out var problem);
            frames = [];
            if (queued is null) { log.WriteLine($"[papers-kernel] shell: {problem}"); continue; }
            if (queued.Type != "execute_request") { Handle(socket, queued, isControl: false); continue; }
            Publish("status", new JsonObject { ["execution_state"] = "busy" }, queued);
            Reply(socket, queued, "execute_reply", new JsonObject { ["status"] = "aborted", ["execution_count"] = executionCount });
            Publish("status", new JsonObject { ["execution_state"] = "idle" }, queued);
        }
    }

    public void Dispose()
    {
        foreach (var s in new NetMQSocket[] { shell, control, stdin, iopub, hb }) { try { s.Dispose(); } catch { } }
        NetMQConfig.Cleanup(block: false);
    }
}
