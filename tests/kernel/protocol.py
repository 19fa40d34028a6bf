"""Protocol tests of the Papers kernel with Debian's real Jupyter client (python3-jupyter-client).
Run by tests/Workbench.Tests/KernelTests.cs with JUPYTER_PATH pointing at an installed papers-csharp kernelspec."""
import queue, sys, time
from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session

def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
    print("ok:", what)

def reply_to(kc, msg_id, timeout=60):
    """The shell reply to one request."""
    r = kc.get_shell_msg(timeout=timeout)
    while r["parent_header"].get("msg_id") != msg_id: r = kc.get_shell_msg(timeout=timeout)
    return r["content"]

def run(kc, code, timeout=120):
    """Executes code; returns (reply content, iopub messages of that request until idle)."""
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    msgs = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id: continue
        msgs.append(m)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle": break
    return reply["content"], msgs

km, kc = start_new_kernel(kernel_name="papers-csharp", startup_timeout=120)
try:
    info = kc.kernel_info(reply=True, timeout=60)["content"]
    check(info["implementation"] == "papers" and info["protocol_version"] == "5.3", "kernel_info")

    reply, msgs = run(kc, 'var x = 20;\nConsole.WriteLine("hi");\nx + 22')
    types = [m["msg_type"] for m in msgs]
    check(reply["status"] == "ok" and reply["execution_count"] == 1, "execute reply with a count")
    check(any(m["msg_type"] == "stream" and m["content"]["text"] == "hi\n" for m in msgs), "stdout stream")
    res = [m for m in msgs if m["msg_type"] == "execute_result"]
    check(len(res) == 1 and res[0]["content"]["data"]["text/plain"] == "42", "execute_result 42")
    check(types[0] == "status" and "execute_input" in types, "busy, execute_input, ..., idle")

    reply, msgs = run(kc, 'using Workbench.Display;\ndisplay(Charts.Line(new[] { 0.0, 1.0 }, new[] { 1.0, 0.0 }, "line"));')
    disp = [m for m in msgs if m["msg_type"] == "display_data"]
    check(len(disp) == 1 and "application/vnd.plotly.v1+json" in disp[0]["content"]["data"] and "text/html" in disp[0]["content"]["data"], "display_data with html and plotly json")

    check(reply_to(kc, kc.is_complete("for (int i = 0; i < 3; i++) {"))["status"] == "incomplete", "is_complete: incomplete")
    check(reply_to(kc, kc.is_complete("var y = 1;"))["status"] == "complete", "is_complete: complete")

    c = reply_to(kc, kc.complete("x.Comp", 6))
    check("CompareTo" in c["matches"] and c["cursor_start"] == 2 and c["cursor_end"] == 6, "complete members of a local")
    c = reply_to(kc, kc.complete("Consol", 6))
    check("Console" in c["matches"], "complete names in scope")
    c = reply_to(kc, kc.complete("var s = \"a\"; s.", 16))
    check("Length" in c["matches"], "complete members after a dot")

    i = reply_to(kc, kc.inspect("x", 1))
    check(i["found"] and "type: int" in i["data"]["text/plain"], "inspect a variable of an earlier cell: its type")
    i = reply_to(kc, kc.inspect("Workbench.Runtime.TorchRuntime.Init", 34))
    check(i["found"] and "libtorch" in i["data"]["text/plain"], "inspect a workbench method: its XML summary")

    # A message signed with the wrong key is rejected: no reply, nothing runs.
    bad = Session(key=b"not-the-key", username="intruder")
    bad.send(kc.shell_channel.socket, "execute_request", {"code": "Console.WriteLine(\"SHOULD NOT RUN\");", "silent": False,
        "store_history": True, "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
    try:
        kc.get_shell_msg(timeout=3)
        check(False, "badly signed request rejected")
    except queue.Empty:
        check(True, "badly signed request rejected")
    reply, msgs = run(kc, "x")
    check(reply["status"] == "ok" and reply["execution_count"] == 3, "kernel answers after a bad signature, and the bad request did not run")
    check(not any("SHOULD NOT RUN" in str(m["content"]) for m in msgs), "nothing from the rejected request")

    # Interrupt a long cell (message mode, on the control channel).
    msg_id = kc.execute("for (int i = 0; i < 1200; i++) System.Threading.Thread.Sleep(50);")
    time.sleep(2.0)
    t0 = time.time()
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id: reply = kc.get_shell_msg(timeout=30)
    check(reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt", "interrupt stops a long cell")
    check(time.time() - t0 < 10, "interrupt within 10 s (took %.1f s)" % (time.time() - t0))

    # Crashing cells: the kernel reports them and keeps answering with its state intact.
    reply, _ = run(kc, "string s = null;\nvar n = s.Length;")
    check(reply["status"] == "error" and reply["ename"] == "NullReferenceException" and "line 2" in reply["evalue"], "a crashing cell is reported with its line")
    reply, _ = run(kc, "throw new InvalidOperationException(\"boom\");")
    check(reply["status"] == "error", "a throwing cell is reported")
    reply, msgs = run(kc, "x * 2")
    check(reply["status"] == "ok" and [m for m in msgs if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"] == "40", "the kernel still answers, with its state")
    # stop_on_error: a cell queued behind a failing one is aborted, not run.
    first = kc.execute('System.Threading.Thread.Sleep(1000);\nthrow new Exception("first fails");')
    second = kc.execute('Console.WriteLine("queued cell ran");')
    check(reply_to(kc, first)["status"] == "error", "the first queued cell fails")
    check(reply_to(kc, second)["status"] == "aborted", "the cell queued behind it is aborted")
    reply, _ = run(kc, "x + 1")
    check(reply["status"] == "ok", "the kernel runs cells again after aborting")
    check(km.is_alive(), "the kernel process is alive")
    check(reply_to(kc, kc.comm_info())["comms"] == {}, "comm_info: no comms")
    beating = False
    for _ in range(20):
        if kc.hb_channel.is_beating(): beating = True; break
        time.sleep(0.5)
    check(beating, "heartbeat answers")
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=False)
print("KERNEL PROTOCOL OK")
