"""Executes every notebook through the Papers kernel with Debian's nbclient, and checks that each code cell's outputs carry
the same mime types as the headless runner's executed notebook (given as the second argument)."""
import glob, json, os, sys
import nbformat
from nbclient import NotebookClient

src_dir, headless_dir = sys.argv[1], sys.argv[2]
def mimes(cell):
    out = set()
    for o in cell.get("outputs", []):
        t = o["output_type"]
        if t in ("display_data", "execute_result"): out |= {t + ":" + k for k in o["data"]}
        else: out.add(t + ":" + o.get("name", ""))
    return out

for path in sorted(glob.glob(os.path.join(src_dir, "*.ipynb"))):
    name = os.path.splitext(os.path.basename(path))[0]
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="papers-csharp", timeout=600, startup_timeout=120, resources={"metadata": {"path": src_dir}})
    client.execute()
    headless = json.load(open(os.path.join(headless_dir, name + ".ipynb")))
    by_id = {c["id"]: c for c in headless["cells"] if c["cell_type"] == "code"}
    compared = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.id not in by_id: continue
        a, b = mimes(cell), mimes(by_id[cell.id])
        if a != b:
            print("FAIL: %s cell %s: kernel %s vs headless %s" % (name, cell.id, sorted(a), sorted(b))); sys.exit(1)
        compared += 1
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o["output_type"] == "error"]
    if errors: print("FAIL: %s: %s" % (name, errors[0]["evalue"])); sys.exit(1)
    print("ok: %s through the kernel, %d code cells with the same mime types as the headless runner" % (name, compared))
print("KERNEL NOTEBOOKS OK")
