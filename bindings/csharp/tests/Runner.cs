// Runner.cs — the small test runner of the C# binding (no NuGet here): runs every public
// method marked [Test] in this assembly, prints PASS / SKIP (with the reason) / FAIL per test,
// and exits non-zero when one failed. Optional arguments select tests by name substring.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;

namespace Llm4all.Tests
{
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class TestAttribute : Attribute { }

    public sealed class SkipException : Exception
    {
        public SkipException(string reason) : base(reason) { }
    }

    public static class Assert
    {
        public static void True(bool cond, string what = "condition")
        {
            if (!cond) throw new Exception("expected true: " + what);
        }

        public static void Equal<T>(T want, T got, string what = "")
        {
            if (!EqualityComparer<T>.Default.Equals(want, got))
                throw new Exception(string.Format("{0}: want <{1}>, got <{2}>", what, want, got));
        }

        public static void SeqEqual<T>(IEnumerable<T> want, IEnumerable<T> got, string what = "")
        {
            if (!want.SequenceEqual(got))
                throw new Exception(string.Format("{0}: want [{1}], got [{2}]", what, string.Join(" ", want), string.Join(" ", got)));
        }

        public static T Throws<T>(Action a, string what = "") where T : Exception
        {
            try { a(); }
            catch (T e) { return e; }
            catch (Exception e) { throw new Exception(string.Format("{0}: expected {1}, got {2}", what, typeof(T).Name, e)); }
            throw new Exception(string.Format("{0}: expected {1}, nothing was thrown", what, typeof(T).Name));
        }
    }

    public static class Runner
    {
        public static int Main(string[] args)
        {
            var tests = typeof(Runner).Assembly.GetTypes()
                .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
                .Where(m => m.GetCustomAttributes(typeof(TestAttribute), false).Length > 0)
                .Where(m => args.Length == 0 || args.Any(a => (m.DeclaringType.Name + "." + m.Name).Contains(a)))
                .OrderBy(m => m.DeclaringType.Name).ThenBy(m => m.MetadataToken).ToList();
            int failed = 0, skipped = 0;
            foreach (MethodInfo m in tests)
            {
                string name = m.DeclaringType.Name + "." + m.Name;
                var watch = System.Diagnostics.Stopwatch.StartNew();
                try
                {
                    m.Invoke(null, null);
                    Console.WriteLine("PASS {0} ({1} ms)", name, watch.ElapsedMilliseconds);
                }
                catch (TargetInvocationException e) when (e.InnerException is SkipException)
                {
                    skipped++;
                    Console.WriteLine("SKIP {0}: {1}", name, e.InnerException.Message);
                }
                catch (TargetInvocationException e)
                {
                    failed++;
                    Console.WriteLine("FAIL {0}: {1}", name, e.InnerException);
                }
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Console.WriteLine("{0} tests: {1} passed, {2} skipped, {3} failed", tests.Count, tests.Count - failed - skipped, skipped, failed);
            return failed == 0 ? 0 : 1;
        }
    }
}
