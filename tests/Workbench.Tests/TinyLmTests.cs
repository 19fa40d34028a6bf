using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Runtime;
using Xunit;
using static TorchSharp.torch;

namespace Workbench.Tests;

/// <summary>The shared tiny LM's invariants: closed-form size, fused = unfused = cached, left padding = per-row runs,
/// cached = uncached decoding, sampling rules, safetensors round trips, hooks, no leaks, and that it can learn.</summary>
public class TinyLmTests
{
    public TinyLmTests() { _ = T.Rt; }

    static TinyLmConfig Cfg(bool tie = true) => new(Vocab: 20, Dim: 32, Layers: 2, Heads: 4, MaxSeq: 64, TieEmbeddings: tie);

    /// <param name="std">Init std; generation tests use a large one so that logits are sharp and depend on positions
    /// (at 0.02 attention is nearly uniform and a wrong RoPE position barely moves the argmax).</param>
    static TinyLm Model(ScalarType dtype = ScalarType.Float32, long seed = 1, bool tie = true, double std = 0.02)
    {
        var m = new TinyLm(Cfg(tie) with { InitStd = std }, seed);
        if (dtype != ScalarType.Float32) m.to(dtype);
        return m;
    }

    static double MaxAbs(Tensor a, Tensor b) => (a - b).abs().max().to_type(ScalarType.Float64).item<double>();
    static double Tol(ScalarType dtype) => dtype == ScalarType.Float64 ? 1e-10 : 1e-5;

    /// <summary>Left-padded prompts with real lengths <paramref name="lens"/> (ids in [1, 20), pad 0) and their mask.</summary>
    static (Tensor Ids, Tensor Mask, long[][] Rows) Padded(int[] lens, int seed)
    {
        var rng = new Random(seed);
        int p = lens.Max();
        var rows = lens.Select(l => Enumerable.Range(0, l).Select(_ => (long)rng.Next(1, 20)).ToArray()).ToArray();
        var ids = new long[lens.Length * p]; var mask = new bool[lens.Length * p];
        for (int r = 0; r < lens.Length; r++)
            for (int j = 0; j < lens[r]; j++) { ids[r * p + p - lens[r] + j] = rows[r][j]; mask[r * p + p - lens[r] + j] = true; }
        return (torch.tensor(ids, [lens.Length, p]), torch.tensor(mask, [lens.Length, p]), rows);
    }

    [Fact]
    public void Parameter_count_equals_the_closed_form_and_the_ffn_rule_rounds_up_to_8()
    {
        Assert.Equal(88, Cfg().Hidden);                                   // round(8/3·32) = 85 → 88
        Assert.Equal(688, (Cfg() with { Dim = 256, Heads = 8 }).Hidden);   // 683 → 688
        Assert.Equal(704, (Cfg() with { FfnHidden = 704 }).Hidden);
        foreach (var c in new[] { Cfg(), Cfg(tie: false), Cfg() with { FfnHidden = 24, Layers = 3 } })
        {
            using var m = new TinyLm(c, 3);
            Assert.Equal(c.ParameterCount(), m.parameters().Sum(p => p.numel()));
        }
    }

    [Fact]
    public void Validate_names_the_field_at_fault()
    {
        Assert.Contains("Heads", Assert.Throws<ConfigException>(() => (Cfg() with { Dim = 30 }).Validate()).Message);
        Assert.Contains("Dim", Assert.Throws<ConfigException>(() => (Cfg() with { Dim = 12 }).Validate()).Message);   // hd = 3
        Assert.Contains("Vocab", Assert.Throws<ConfigException>(() => (Cfg() with { Vocab = 0 }).Validate()).Message);
        Assert.Contains("MaxSeq", Assert.Throws<ConfigException>(() => (Cfg() with { MaxSeq = -1 }).Validate()).Message);
        Assert.Contains("TopP", Assert.Throws<ConfigException>(() => new GenerationOptions(4, TopP: 0).Validate()).Message);
    }

    [Theory, InlineData(ScalarType.Float32), InlineData(ScalarType.Float64)]
    public void Forward_equals_Inspect_and_attention_rows_are_causal_distributions_that_skip_pads(ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        using var m = Model(dtype);
        var (ids, mask, _) = Padded([7, 4, 1], 5);
        foreach (var km in new Tensor?[] { null, mask })
        {
            using var tr = m.Inspect(ids, km);
            Assert.True(MaxAbs(m.Forward(ids, km), tr.Logits) < Tol(dtype));
            Assert.Equal(3, tr.Hidden.Count); Assert.Equal(2, tr.Attention.Count);
            foreach (var w in tr.Attention)
            {
                Assert.Equal([3L, 4, 7, 7], w.shape);
                Assert.True(MaxAbs(w.sum(-1), torch.ones_like(w.sum(-1))) < 1e-6);
                Assert.Equal(0.0, w.triu(1).abs().max().to_type(ScalarType.Float64).item<double>());
                if (km is null) continue;
                // real queries put no weight on pad keys: w[b,h,i,j] = 0 where query i is real and key j is a pad
                var realQ = km.unsqueeze(1).unsqueeze(3); var padK = km.logical_not().unsqueeze(1).unsqueeze(2);
                Assert.Equal(0.0, w.masked_fill(realQ.logical_and(padK).logical_not(), 0).abs().max().to_type(ScalarType.Float64).item<double>());
            }
        }
    }

    [Theory, InlineData(ScalarType.Float32), InlineData(ScalarType.Float64)]
    public void A_left_padded_batch_equals_each_row_run_alone(ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        using var m = Model(dtype);
        var (ids, mask, rows) = Padded([6, 3, 1, 5], 7);
        var batched = m.Forward(ids, mask);
        for (int r = 0; r < rows.Length; r++)
        {
            long l = rows[r].Length;
            var alone = m.Forward(torch.tensor(rows[r], [1, l]));
            Assert.True(MaxAbs(batched[r].narrow(0, 6 - l, l), alone[0]) < Tol(dtype), $"row {r}");
        }
    }

    [Fact]
    public void Cached_logits_equal_the_full_forward_at_every_step()
    {
        using var scope = torch.NewDisposeScope();
        using var m = Model();
        var (prompt, pmask, _) = Padded([5, 2, 4], 9);
        var more = torch.randint(1, 20, [3, 6], generator: new torch.Generator(3));
        var full = torch.cat([prompt, more], 1);
        var fullMask = torch.cat([pmask, torch.ones(3, 6, dtype: ScalarType.Bool)], 1);
        var reference = m.Forward(full, fullMask);                                   // (3, 11, V)
        using var cache = new KvCache(m.Config, 3, 11, torch.CPU, ScalarType.Float32);
        var pos = LmUtil.PositionsFromMask(fullMask);
        var first = m.ForwardCached(prompt, cache, pos.narrow(1, 0, 5), pmask);
        Assert.True(MaxAbs(first, reference.narrow(1, 0, 5)) < 1e-5);
        for (int s = 0; s < 6; s++)
        {
            var lg = m.ForwardCached(more.narrow(1, s, 1), cache, pos.narrow(1, 5 + s, 1));
            Assert.True(MaxAbs(lg, reference.narrow(1, 5 + s, 1)) < 1e-5, $"step {s}");
        }
        Assert.Equal(11, cache.Length);
    }

    static GenerationResult Gen(TinyLm m, Tensor ids, Tensor mask, GenerationOptions o, ulong? seed = null) =>
        Generation.Generate(m, ids, mask, o, seed is null ? null : new torch.Generator(seed.Value));

    static long[] Row(Tensor t, int r) => t[r].cpu().data<long>().ToArray();
    static bool[] RowB(Tensor t, int r) => t[r].cpu().data<bool>().ToArray();

    [Fact]
    public void Cached_greedy_decoding_equals_uncached_token_for_token_with_EOS()
    {
        using var scope = torch.NewDisposeScope();
        using var m = Model(ScalarType.Float64, std: 0.5);
        var (ids, mask, _) = Padded([5, 2, 4], 11);
        // Pick as EOS a token that row 0 emits at step 2, so at least one row stops early.
        using var probe = Gen(m, ids, mask, new GenerationOptions(10, Greedy: true, UseCache: false));
        long eos = Row(probe.Tokens, 0)[2];
        var o = new GenerationOptions(10, Greedy: true, EosId: eos, PadId: 0);
        using var cached = Gen(m, ids, mask, o);
        using var plain = Gen(m, ids, mask, o with { UseCache = false });
        Assert.Equal(0.0, MaxAbs(cached.Tokens, plain.Tokens));
        Assert.True(cached.Mask.eq(plain.Mask).all().item<bool>());
        Assert.Equal(plain.Lengths, cached.Lengths);
        Assert.True(cached.Lengths[0] <= 3);
        Assert.Equal(plain.ForwardCalls, cached.ForwardCalls);
        Assert.True(cached.TokensProcessed < plain.TokensProcessed);
        // without EOS the batch runs all 10 steps: 1 prefill + 9 single-token calls
        using var noEos = Gen(m, ids, mask, o with { EosId = -1 });
        Assert.Equal(10, noEos.ForwardCalls);
        Assert.Equal(3L * 5 + 9 * 3, noEos.TokensProcessed);
        Assert.All(noEos.Lengths, l => Assert.Equal(10, l));
    }

    [Fact]
    public void The_mask_covers_generated_tokens_through_the_first_EOS_and_later_tokens_are_pad()
    {
        using var scope = torch.NewDisposeScope();
        using var m = Model(ScalarType.Float64, seed: 4);
        var (ids, mask, _) = Padded([3, 6, 1, 4], 13);
        const long eos = 5, pad = 19;
        using var r = Gen(m, ids, mask, new GenerationOptions(12, EosId: eos, PadId: pad), seed: 21);
        bool sawEos = false;
        for (int b = 0; b < 4; b++)
        {
            var tok = Row(r.Tokens, b); var mk = RowB(r.Mask, b);
            int first = Array.IndexOf(tok, eos);
            int len = first < 0 ? -1 : first + 1;
            sawEos |= first >= 0;
            if (first >= 0)
            {
                Assert.Equal(len, r.Lengths[b]);
                Assert.All(tok.Skip(len), t => Assert.Equal(pad, t));
            }
            Assert.Equal(r.Lengths[b], mk.Count(x => x));
            Assert.All(mk.Take((int)r.Lengths[b]), Assert.True);
            Assert.All(mk.Skip((int)r.Lengths[b]), Assert.False);
            if (r.Lengths[b] < 12) Assert.Equal(eos, tok[r.Lengths[b] - 1]);   // a short row ends with its EOS
        }
        Assert.True(sawEos, "pick a seed where some row emits EOS");
    }

    [Fact]
    public void Seeded_sampling_is_reproducible_and_tiny_TopP_or_temperature_is_greedy()
    {
        using var scope = torch.NewDisposeScope();
        using var m = Model(ScalarType.Float64, std: 0.5);
        var (ids, mask, _) = Padded([4, 2, 5], 17);
        var o = new GenerationOptions(8);
        using var a = Gen(m, ids, mask, o, seed: 5);
        using var b = Gen(m, ids, mask, o, seed: 5);
        using var c = Gen(m, ids, mask, o, seed: 6);
        using var u = Gen(m, ids, mask, o with { UseCache = false }, seed: 5);
        Assert.Equal(0.0, MaxAbs(a.Tokens, b.Tokens));
        Assert.Equal(0.0, MaxAbs(a.Tokens, u.Tokens));
        Assert.NotEqual(0.0, MaxAbs(a.Tokens, c.Tokens));
        using var greedy = Gen(m, ids, mask, o with { Greedy = true });
        using var topP = Gen(m, ids, mask, o with { TopP = 1e-9 }, seed: 5);
        using var cold = Gen(m, ids, mask, o with { Temperature = 1e-6 }, seed: 5);
        Assert.Equal(0.0, MaxAbs(greedy.Tokens, topP.Tokens));
        Assert.Equal(0.0, MaxAbs(greedy.Tokens, cold.Tokens));
    }

    [Fact]
    public void Top_p_keeps_the_smallest_nucleus_reaching_the_mass()
    {
        using var scope = torch.NewDisposeScope();
        // probabilities 0.5, 0.3, 0.15, 0.05: TopP = 0.7 keeps {0, 1}; TopP = 0.8 keeps {0, 1} (0.5 + 0.3 = 0.8 reaches it)
        var logits = torch.tensor(new[] { 0.5, 0.3, 0.15, 0.05 }).log().unsqueeze(0).expand(4000, 4).contiguous();
        foreach (var (p, kept) in new[] { (0.7, 2), (0.79, 2), (0.81, 3), (0.4, 1) })
        {
            var s = Generation.Sample(logits, new GenerationOptions(1, TopP: p), new torch.Generator(1));
            Assert.True(kept == s.unique().Item1.shape[0], $"TopP {p}: kept {string.Join(",", s.unique().Item1.data<long>().ToArray())}");
            Assert.True(s.lt(kept).all().item<bool>());
        }
    }

    [Fact]
    public void Token_log_probs_equal_log_softmax_gather_and_positions_follow_the_mask()
    {
        using var scope = torch.NewDisposeScope();
        var logits = torch.randn(2, 5, 20, generator: new torch.Generator(1));
        var y = torch.randint(0, 20, [2, 5], generator: new torch.Generator(2));
        var reference = logits.log_softmax(-1).gather(-1, y.unsqueeze(-1)).squeeze(-1);
        Assert.True(MaxAbs(LmUtil.TokenLogProbs(logits, y), reference) < 1e-5);
        Assert.Equal(ScalarType.Float32, LmUtil.TokenLogProbs(logits.to_type(ScalarType.BFloat16), y).dtype);
        var mask = torch.tensor(new[] { false, false, true, true, true, true, true, true, true, true }, [2, 5]);
        Assert.Equal(new long[] { 0, 0, 0, 1, 2, 0, 1, 2, 3, 4 }, LmUtil.PositionsFromMask(mask).data<long>().ToArray());
    }

    [Fact]
    public void Safetensors_round_trips_bit_exactly_with_metadata()
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(3);
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = torch.randn([3, 5], generator: g),
            ["f64"] = torch.randn([2, 2, 2], dtype: ScalarType.Float64, generator: g),
            ["i64"] = torch.tensor(new[] { long.MinValue, -1, 0, long.MaxValue }),
            ["bool"] = torch.tensor(new[] { true, false, false, true, true }),
            ["bf16"] = torch.randn([7], generator: g).to_type(ScalarType.BFloat16),
            ["scalar"] = torch.tensor(2.5),
            ["empty"] = torch.zeros([0, 3]),
        };
        var path = Path.Combine(T.TempDir(), "t.safetensors");
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" });
        Assert.Equal(0L, BitConverter.ToInt64(File.ReadAllBytes(path), 0) % 8);
        var back = Safetensors.Load(path);
        Assert.Equal(tensors.Keys.Order(), back.Keys.Order());
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.dtype, back[k].dtype);
            Assert.Equal(t.shape, back[k].shape);
            Assert.Equal(t.bytes.ToArray(), back[k].bytes.ToArray());
            back[k].Dispose();
        }
        Assert.Equal("ünïcode", Safetensors.ReadMetadata(path)["note"]);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
    }

    [Fact]
    public void Truncated_or_garbage_files_throw_errors_naming_the_file()
    {
        using var scope = torch.NewDisposeScope();
        var dir = T.TempDir();
        var path = Path.Combine(dir, "model.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = torch.randn(64, 64) });
        var bytes = File.ReadAllBytes(path);
        var cut = Path.Combine(dir, "cut.safetensors");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        var e1 = Assert.Throws<InvalidDataException>(() => Safetensors.Load(cut));
        Assert.Contains(cut, e1.Message); Assert.Contains("truncated", e1.Message);
        var junk = Path.Combine(dir, "junk.safetensors");
        var bad = (byte[])bytes.Clone(); bad[9] = (byte)'!';
        File.WriteAllBytes(junk, bad);
        Assert.Contains(junk, Assert.Throws<InvalidDataException>(() => Safetensors.Load(junk)).Message);
        File.WriteAllBytes(junk, [1, 2, 3]);
        Assert.Contains(junk, Assert.Throws<InvalidDataException>(() => Safetensors.Load(junk)).Message);
    }

    [Theory, InlineData(true), InlineData(false)]
    public void A_saved_module_loads_into_another_and_gives_identical_outputs(bool tie)
    {
        using var scope = torch.NewDisposeScope();
        using var a = Model(seed: 1, tie: tie);
        using var b = Model(seed: 2, tie: tie);
        var ids = torch.randint(0, 20, [2, 9], generator: new torch.Generator(4));
        var path = Path.Combine(T.TempDir(), "lm.safetensors");
        Safetensors.SaveModule(path, a, new Dictionary<string, string> { ["config"] = a.Config.ToString() });
        Assert.NotEqual(0.0, MaxAbs(a.Forward(ids), b.Forward(ids)));
        Safetensors.LoadModule(path, b);
        Assert.Equal(0.0, MaxAbs(a.Forward(ids), b.Forward(ids)));
        Assert.DoesNotContain(a.state_dict().Keys, k => k.StartsWith("rope"));
    }

    [Fact]
    public void LoadModule_names_mismatched_shapes_and_missing_or_unexpected_keys()
    {
        using var a = Model();
        using var wide = new TinyLm(Cfg() with { Vocab = 21 }, 1);
        using var untied = Model(tie: false);
        var path = Path.Combine(T.TempDir(), "lm.safetensors");
        Safetensors.SaveModule(path, a);
        var e = Assert.Throws<InvalidDataException>(() => Safetensors.LoadModule(path, wide));
        Assert.Contains("tok_emb", e.Message); Assert.Contains(path, e.Message);
        Assert.Contains("missing keys: head", Assert.Throws<InvalidDataException>(() => Safetensors.LoadModule(path, untied)).Message);
    }

    [Fact]
    public void Moving_to_float64_keeps_the_rope_tables_exact_and_out_of_the_state_dict()
    {
        using var scope = torch.NewDisposeScope();
        using var m = Model(ScalarType.Float64);
        Assert.All(m.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        Assert.Equal(m.Config.ParameterCount(), m.state_dict().Values.Sum(t => t.numel()));
        var rope = m.RopeCos;
        Assert.DoesNotContain(m.named_buffers(), b => b.name.StartsWith("rope"));
        Assert.Equal(ScalarType.Float64, rope.dtype);
        Assert.Equal(Math.Cos(63 * Math.Pow(10000, -2.0 / 8)), rope[63, 1].item<double>(), 1e-14);
    }

    [Fact]
    public void The_hook_sees_every_layer_and_site_on_every_path()
    {
        using var scope = torch.NewDisposeScope();
        using var m = Model();
        var seen = new List<(int, string, long)>();
        m.Hook = (i, site, t) => seen.Add((i, site, t.shape[1]));
        var ids = torch.randint(0, 20, [2, 5], generator: new torch.Generator(4));
        var expected = Enumerable.Range(0, 2).SelectMany(i => new[] { "attn_out", "mlp_out", "block_out" }.Select(s => (i, s))).ToList();
        m.Forward(ids);
        using (m.Inspect(ids)) { }
        using var cache = new KvCache(m.Config, 2, 6, torch.CPU, ScalarType.Float32);
        m.ForwardCached(ids, cache, LmUtil.PositionsFromMask(torch.ones(2, 5, dtype: ScalarType.Bool)));
        m.ForwardCached(ids.narrow(1, 0, 1), cache, torch.full([2, 1], 5L));
        Assert.Equal(4 * expected.Count, seen.Count);
        for (int c = 0; c < 4; c++)
            Assert.Equal(expected, seen.Skip(c * expected.Count).Take(expected.Count).Select(x => (x.Item1, x.Item2)).ToList());
        Assert.Equal(1L, seen[^1].Item3);
        m.Hook = null;
    }

    [Fact]
    public void Forward_and_Generate_leak_no_tensors()
    {
        using var m = Model();
        using var ids = torch.randint(1, 20, [3, 6], generator: new torch.Generator(4));
        using var mask = torch.ones(3, 6, dtype: ScalarType.Bool);
        var o = new GenerationOptions(5, EosId: 3);
        m.Forward(ids, mask).Dispose();
        Gen(m, ids, mask, o, 1).Dispose();
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        m.Forward(ids, mask).Dispose();
        m.Forward(ids).Dispose();
        Gen(m, ids, mask, o, 1).Dispose();
        Gen(m, ids, mask, o with { UseCache = false }, 1).Dispose();
        m.Inspect(ids, mask).Dispose();
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void A_tiny_model_memorises_a_fixed_sequence_in_100_Adam_steps()
    {
        using var m = Model(seed: 7);
        using var seq = torch.randint(0, 20, [1, 33], generator: new torch.Generator(8));
        using var x = seq.narrow(1, 0, 32); using var y = seq.narrow(1, 1, 32);
        using var opt = torch.optim.Adam(m.parameters(), 1e-2);
        double loss = double.NaN, first = double.NaN;
        for (int s = 0; s < 100; s++)
        {
            using var scope = torch.NewDisposeScope();
            var l = -LmUtil.TokenLogProbs(m.Forward(x), y).mean();
            opt.zero_grad(); l.backward(); opt.step();
            loss = l.item<float>();
            if (s == 0) first = loss;
        }
        Assert.True(first > 2.5, $"initial loss {first} should be near ln 20");
        Assert.True(loss < 0.1, $"loss after 100 steps {loss}");
    }
}
